"""The console in process: sign-in, sessions, CSRF, what each role sees and may do, and escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.core.errors import Conflict
from shipyard.interfaces.http.permissions import OPERATIONS
from shipyard.registry.access import Permission
from tests.interfaces.console.conftest import Client, client_for, config
from tests.interfaces.console.registry import ENDPOINT, MARKUP, REVIEWED, ConsoleRegistry

PAGES = [
    "/ui",
    "/ui/models",
    f"/ui/models/{ENDPOINT}",
    f"/ui/models/{ENDPOINT}/versions/2",
    f"/ui/models/{ENDPOINT}/compare?a=1&b=2",
    f"/ui/endpoints/{ENDPOINT}/monitoring",
    f"/ui/endpoints/{ENDPOINT}/monitoring?feature=tenure",
    f"/ui/endpoints/{ENDPOINT}/story",
    f"/ui/endpoints/{ENDPOINT}/story?all=1",
    "/ui/rollouts",
    f"/ui/rollouts/{ENDPOINT}",
    f"/ui/rollouts/{ENDPOINT}/live",
    "/ui/approvals",
    "/ui/alerts",
    "/ui/alerts?status=open&severity=warning",
    "/ui/audit",
    "/ui/audit?verify=all&action=rollout.",
]


def test_without_a_session_every_page_sends_to_the_sign_in_form(
    console_registry: ConsoleRegistry,
) -> None:
    with client_for(console_registry) as client:
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/ui/sign-in?next=%2Fui"), path
        assert client.get("/ui/sign-in").status_code == 200
        assert client.get("/ui/static/console.js").status_code == 200


def test_a_bad_token_is_refused_with_one_line_and_no_session(
    console_registry: ConsoleRegistry,
) -> None:
    with client_for(console_registry) as client:
        for token in ("shy_not-a-real-token", "password", ""):
            response = client.sign_in(token)
            assert response.status_code == 401
            assert "shipyard_session" not in response.headers.get("set-cookie", "")
            assert 'class="problem"' in response.text and "Traceback" not in response.text
        assert client.get("/ui").status_code == 303


def test_signing_in_opens_a_strict_http_only_session_scoped_to_the_console(
    console_registry: ConsoleRegistry,
) -> None:
    with client_for(console_registry) as client:
        response = client.sign_in(console_registry.tokens["viewer"])
        assert response.status_code == 303 and response.headers["location"] == "/ui"
        cookie = response.headers["set-cookie"].lower()
        assert "shipyard_session=" in cookie
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        assert console_registry.tokens["viewer"].lower() not in cookie  # the token stays home
        page = client.get("/ui")
        assert page.status_code == 200 and "viewer-1" in page.text
        assert "content-security-policy" in page.headers
        client.post("/ui/sign-out", data={"csrf": client.csrf("/ui")})
        assert client.get("/ui").status_code == 303


def test_every_page_renders_for_a_viewer(console_registry: ConsoleRegistry) -> None:
    with client_for(console_registry) as client:
        client.sign_in(console_registry.tokens["viewer"])
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 200, f"{path}: {response.text[:300]}"
            assert "Traceback" not in response.text
        story = client.get(f"/ui/endpoints/{ENDPOINT}/story").text
        for step in (
            "Drift",
            "Policy retrain-on-drift fired",
            "Retrained churn/2",
            "Evaluation of churn/2",
        ):
            assert step in story, step
        assert "churn@champion moved 1 → 2" in story and "epoch 2 loss 0.33" in story


def test_bad_input_is_a_page_with_the_right_status(console_registry: ConsoleRegistry) -> None:
    with client_for(console_registry) as client:
        client.sign_in(console_registry.tokens["viewer"])
        for path, status in (
            ("/ui/models/nope", 404),
            (f"/ui/models/{ENDPOINT}/versions/99", 404),
            (f"/ui/models/{ENDPOINT}/versions/x", 400),
            (f"/ui/models/{ENDPOINT}/compare?a=x", 400),
            ("/ui/alerts?status=maybe", 400),
            ("/ui/audit?limit=0", 400),
            ("/ui/rollouts/nowhere", 404),
        ):
            response = client.get(path)
            assert response.status_code == status, f"{path}: {response.status_code}"
            assert 'class="problem"' in response.text and "Traceback" not in response.text


def test_a_form_without_its_csrf_token_is_refused(fresh_registry: ConsoleRegistry) -> None:
    rollouts = fresh_registry.services.rollouts
    with client_for(fresh_registry) as client:
        client.sign_in(fresh_registry.tokens["operator"])
        for data in ({}, {"csrf": "forged-value-of-the-right-length-0123456789"}):
            response = client.post(f"/ui/rollouts/{ENDPOINT}/pause", data=data)
            assert response.status_code == 403, response.text
            assert "CSRF" in response.text
        assert rollouts.status(ENDPOINT).rollout.status == "running"
        good = client.post(
            f"/ui/rollouts/{ENDPOINT}/pause", data={"csrf": client.csrf(f"/ui/rollouts/{ENDPOINT}")}
        )
        assert good.status_code == 303
        assert rollouts.status(ENDPOINT).rollout.status == "paused"
        assert rollouts.status(ENDPOINT).events[-1].kind == "pause"


def test_a_viewer_sees_no_rollout_button_and_cannot_press_one(
    fresh_registry: ConsoleRegistry,
) -> None:
    with client_for(fresh_registry) as client:
        client.sign_in(fresh_registry.tokens["viewer"])
        page = client.get(f"/ui/rollouts/{ENDPOINT}").text
        for verb in ("pause", "resume", "promote", "abort", "rollback"):
            assert f'action="/ui/rollouts/{ENDPOINT}/{verb}"' not in page
        assert "Roll back @staging" not in client.get(f"/ui/models/{ENDPOINT}").text
        assert 'action="/ui/approvals/' not in client.get("/ui/approvals").text
        token = client.csrf("/ui")
        for path in (
            f"/ui/rollouts/{ENDPOINT}/pause",
            f"/ui/rollouts/{ENDPOINT}/rollback",
            f"/ui/models/{ENDPOINT}/aliases/staging/rollback",
            f"/ui/approvals/{REVIEWED}/2/approve",
        ):
            response = client.post(path, data={"csrf": token})
            assert response.status_code == 403, path
            assert "lacks the" in response.text
    assert fresh_registry.services.rollouts.status(ENDPOINT).rollout.status == "running"
    assert fresh_registry.services.registry.get_alias(ENDPOINT, "staging").version == 2


def test_an_operator_sees_the_buttons_its_role_may_use(console_registry: ConsoleRegistry) -> None:
    with client_for(console_registry) as client:
        client.sign_in(console_registry.tokens["operator"])
        page = client.get(f"/ui/rollouts/{ENDPOINT}").text
        for verb in ("pause", "promote", "abort", "rollback"):
            assert f'action="/ui/rollouts/{ENDPOINT}/{verb}"' in page, verb
        assert f'action="/ui/rollouts/{ENDPOINT}/resume"' not in page  # not paused
        assert "needs the approver role" in client.get("/ui/approvals").text


def test_an_approver_approves_with_a_comment_and_self_approval_is_refused(
    fresh_registry: ConsoleRegistry,
) -> None:
    governance = fresh_registry.services.governance
    with client_for(fresh_registry) as client:
        client.sign_in(fresh_registry.tokens["approver"])
        token = client.csrf("/ui/approvals")
        response = client.post(
            f"/ui/approvals/{REVIEWED}/2/approve",
            data={"csrf": token, "comment": f"looks fine {MARKUP}", "back": "/ui/approvals"},
        )
        assert response.status_code == 303
        assert governance.status(REVIEWED, 2).status == "approved"
        assert governance.status(REVIEWED, 2).approvals[0].comment == f"looks fine {MARKUP}"
        again = client.post(
            f"/ui/approvals/{REVIEWED}/2/reject", data={"csrf": token, "back": "/ui/approvals"}
        )
        assert again.status_code == 303 and "error=" in again.headers["location"]
        shown = client.get(again.headers["location"]).text
        assert 'class="problem"' in shown and "final" in shown


def test_user_text_is_shown_as_text(console_registry: ConsoleRegistry) -> None:
    with client_for(console_registry) as client:
        client.sign_in(console_registry.tokens["viewer"])
        for path in (
            f"/ui/models/{ENDPOINT}",
            f"/ui/models/{ENDPOINT}/versions/1",
            "/ui/models",
            "/ui/alerts",
            "/ui/audit",
        ):
            body = client.get(path).text
            assert "<script>alert" not in body and "<b>bold</b>" not in body, path
            assert "&lt;script&gt;" in body or "\\u003cscript" in body, path
        noted = client.get("/ui/rollouts?note=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E").text
        assert "<img src=x" not in noted and "&lt;img src=x" in noted


def test_sign_in_sends_only_to_console_pages(console_registry: ConsoleRegistry) -> None:
    with client_for(console_registry) as client:
        for target in ("https://example.org/", "//example.org/ui", "/api/tokens"):
            response = client.post(
                "/ui/sign-in",
                data={
                    "csrf": client.csrf(),
                    "token": console_registry.tokens["viewer"],
                    "next": target,
                },
            )
            assert response.headers["location"] == "/ui", target


def test_a_revoked_token_ends_its_session(fresh_registry: ConsoleRegistry) -> None:
    with client_for(fresh_registry) as client:
        client.sign_in(fresh_registry.tokens["viewer"])
        assert client.get("/ui").status_code == 200
        fresh_registry.services.tokens.revoke("viewer-1", actor="root")
        for _ in range(300):  # the token cache trusts a verified token for 1 s
            if client.get("/ui").status_code == 303:
                break
            __import__("threading").Event().wait(0.02)
        assert client.get("/ui").status_code == 303


def test_console_routes_are_in_the_one_permission_table() -> None:
    console = {k: v for k, v in OPERATIONS.items() if k[1].startswith("/ui")}
    writes = {k: v for k, v in console.items() if k[0] == "POST" and "sign-" not in k[1]}
    assert writes and all(v for v in writes.values())
    assert console[("POST", "/ui/rollouts/{name}/{action}")] == frozenset({Permission.DEPLOY})
    assert console[("POST", "/ui/approvals/{name}/{version}/{decision}")] == frozenset(
        {Permission.APPROVE}
    )
    assert all(re.match(r"^/ui(/|$)", path) for _, path in console)


def test_the_console_alone_signs_in_and_serves_every_page(
    console_registry: ConsoleRegistry, tmp_path: Path
) -> None:
    from shipyard.interfaces.console.app import create_console_app

    app = create_console_app(console_registry.services, config(host="0.0.0.0"))
    with Client(app) as client:
        assert client.get("/ui").status_code == 303
        client.sign_in(console_registry.tokens["viewer"])
        for path in PAGES:
            assert client.get(path).status_code == 200, path
        assert client.get("/api/models").status_code == 404  # the console only
    empty = build(Settings(home=tmp_path / "empty"))
    try:
        with pytest.raises(Conflict, match="without authentication"):
            create_console_app(empty, config(host="0.0.0.0"))  # a public bind needs tokens
    finally:
        empty.close()
