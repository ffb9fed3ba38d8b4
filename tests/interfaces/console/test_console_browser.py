"""The console in a real browser (Debian's Chromium through Playwright) against the whole app under
uvicorn on 127.0.0.1: sign in, walk every page, approve a version, pause and resume a rollout (and
see a new gate evaluation appear by itself), roll back an alias. On every page: no console error, no
request to any other host, no serious or critical accessibility violation (axe-core); screenshots
go to test-artifacts/console/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser import LAUNCH_ARGS, chromium
from tests.interfaces.console.conftest import live_server
from tests.interfaces.console.registry import ENDPOINT, REVIEWED, ConsoleRegistry, build_registry

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "console"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGES = {
    "overview": "/ui",
    "models": "/ui/models",
    "model": f"/ui/models/{ENDPOINT}",
    "version": f"/ui/models/{ENDPOINT}/versions/2",
    "compare": f"/ui/models/{ENDPOINT}/compare?a=1&b=2",
    "monitoring": f"/ui/endpoints/{ENDPOINT}/monitoring",
    "story": f"/ui/endpoints/{ENDPOINT}/story",
    "rollouts": "/ui/rollouts",
    "rollout": f"/ui/rollouts/{ENDPOINT}",
    "approvals": "/ui/approvals",
    "alerts": "/ui/alerts",
    "audit": "/ui/audit",
}


@dataclass
class Browser:
    url: str
    registry: ConsoleRegistry
    browser: Any
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def page(self, *, bypass_csp: bool = False) -> Any:
        context = self.browser.new_context(
            viewport={"width": 1360, "height": 900}, bypass_csp=bypass_csp
        )
        tab = context.new_page()
        server = urlsplit(self.url).netloc

        def route(r: Any) -> None:
            if urlsplit(r.request.url).netloc != server and not r.request.url.startswith("data:"):
                self.foreign.append(r.request.url)
                r.abort()
            else:
                r.continue_()

        tab.route("**/*", route)
        tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: self.errors.append(str(e)))
        return tab

    def sign_in(self, tab: Any, token_of: str = "root") -> None:
        tab.goto(f"{self.url}/ui")
        assert "/ui/sign-in" in tab.url
        tab.fill("#token", self.registry.tokens[token_of])
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{self.url}/ui")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    sync_api, binary = chromium()
    registry = build_registry(tmp_path_factory.mktemp("browser") / "home")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_server(registry) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(binary), args=LAUNCH_ARGS)
        try:
            yield Browser(url, registry, browser)
        finally:
            browser.close()
    registry.services.close()


@pytest.fixture(scope="module")
def axe_tab(web: Browser) -> Iterator[Any]:
    """A viewer's tab that lets axe-core in: it is injected as an inline script, which the console's
    CSP forbids (every other tab runs under the CSP)."""
    tab = web.page(bypass_csp=True)
    web.sign_in(tab, "viewer")
    yield tab
    tab.context.close()


def _axe(tab: Any, url: str) -> list[str]:
    """Serious and critical axe-core violations of the page at ``url``."""
    tab.goto(url, wait_until="load")
    tab.add_script_tag(content=AXE.read_text())
    found = tab.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
    )
    return [
        f"{v['id']} ({v['impact']}, {v['nodes']} nodes)"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_walk_every_page(web: Browser) -> None:
    tab = web.page()
    web.sign_in(tab)
    for name, path in PAGES.items():
        tab.goto(web.url + path, wait_until="load")
        assert tab.locator("h1").count() == 1, name
        assert "That did not work" not in tab.inner_text("h1"), name
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    tab.goto(web.url + PAGES["monitoring"], wait_until="load")
    tab.wait_for_selector(".u-wrap canvas")
    assert tab.locator(".u-wrap canvas").count() >= 5  # uPlot drew the charts
    assert tab.locator("table.heatmap td").count() >= 2 * 12
    tab.goto(web.url + PAGES["story"])
    text = tab.inner_text("main")
    for step in ("Drift", "Policy retrain-on-drift fired", "Retrained churn/2", "Evaluation of"):
        assert step in text
    tab.context.close()
    assert web.errors == []
    assert web.foreign == []


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violation(web: Browser, axe_tab: Any, name: str) -> None:
    assert _axe(axe_tab, web.url + PAGES[name]) == []


def test_approve_a_version(web: Browser) -> None:
    tab = web.page()
    web.sign_in(tab, "approver")
    tab.goto(f"{web.url}/ui/approvals")
    row = tab.locator("tr", has_text=f"{REVIEWED}/2")
    row.locator("input[name=comment]").fill("checked the holdout numbers")
    row.get_by_role("button", name="Approve").click()
    tab.wait_for_selector(".note")
    assert "approved" in tab.inner_text(".note")
    assert web.registry.services.governance.status(REVIEWED, 2).status == "approved"
    assert tab.locator("tr", has_text=f"{REVIEWED}/2").count() == 0  # off the queue
    tab.screenshot(path=str(ARTIFACTS / "approved.png"), full_page=True)
    tab.context.close()
    assert web.errors == [] and web.foreign == []


def test_pause_and_resume_a_rollout_and_see_a_gate_evaluation_live(web: Browser) -> None:
    rollouts = web.registry.services.rollouts
    tab = web.page()
    web.sign_in(tab, "operator")
    tab.goto(f"{web.url}/ui/rollouts/{ENDPOINT}", wait_until="load")
    tab.get_by_role("button", name="Pause").click()
    tab.wait_for_selector("#rollout-status:has-text('paused')")
    assert rollouts.status(ENDPOINT).rollout.status == "paused"
    tab.get_by_role("button", name="Resume").click()
    tab.wait_for_selector("#rollout-status:has-text('running')")
    assert rollouts.status(ENDPOINT).rollout.status == "running"
    # the controller's next analysis, recorded as the service records one
    record = rollouts.active(ENDPOINT)
    written = time.monotonic()
    rollouts.store.update_rollout(
        record.id,
        "running",
        dict(record.state),
        actor="controller",
        kind="hold",
        details={
            "analysis": {
                "verdict": "inconclusive",
                "reason": "only 3 candidate requests",
                "gates": [{"name": "min_requests", "value": 3, "limit": 20, "passed": False}],
            },
            "weight": 50.0,
            "step": 0,
        },
    )
    tab.wait_for_selector("text=only 3 candidate requests", timeout=2000)
    shown = time.monotonic() - written
    tab.screenshot(path=str(ARTIFACTS / "rollout-live.png"), full_page=True)
    tab.context.close()
    assert shown < 2.0
    assert web.errors == [] and web.foreign == []


def test_roll_back_an_alias(web: Browser) -> None:
    registry = web.registry.services.registry
    assert registry.get_alias(ENDPOINT, "staging").version == 2
    tab = web.page()
    web.sign_in(tab, "operator")
    tab.goto(f"{web.url}/ui/models/{ENDPOINT}")
    tab.get_by_role("button", name="Roll back @staging to version 1").click()
    tab.wait_for_selector(".note")
    assert "moved back from version 2 to 1" in tab.inner_text(".note")
    assert registry.get_alias(ENDPOINT, "staging").version == 1
    last = registry.alias_history(ENDPOINT, "staging")[-1]
    assert last.actor == "operator-1" and last.reason == "rollback from 2"
    tab.context.close()
    assert web.errors == [] and web.foreign == []
