"""The monitoring report: a real endpoint log with history and a drifted window, rendered to a
self-contained HTML page (checked as text and in headless Chromium) and its JSON twin."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.interfaces.cli.context import set_overrides, state
from shipyard.interfaces.cli.report import report
from shipyard.monitoring.monitor import MonitorConfig
from shipyard.monitoring.report import (
    MAX_BINS,
    MAX_CATEGORIES,
    MAX_FEATURES,
    MAX_LABEL,
    MAX_POINTS,
    MAX_UNSEEN,
    SERVICE_METRICS,
    ReportData,
    _category_bars,
    _numeric_bars,
    build_report,
    render_html,
    render_json,
)
from shipyard.registry.entities import MetricPoint
from shipyard.stats.profile import CategoricalProfile, NumericProfile, build_profile, observe
from shipyard.telemetry.records import PredictionEvent
from tests.browser import LAUNCH_ARGS, chromium

ENDPOINT = "churn-eu"
FEATURES = {"age", "income", "plan", "region", "score", "tenure"}
HOURS = 6
"""Monitor runs: HOURS - 1 ordinary windows, then a drifted one ending at ``now``."""
EXTERNAL = re.compile(r"""(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def make_data(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    regions = ["north", "south", "east", "west"]
    if shift:  # new values appear, one of them markup that must come out escaped
        regions += ["<b>atlantis</b>", "mu"]
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000 + shift * 30_000, 15_000, n),
            "plan": rng.choice(
                ["basic", "plus", "pro"], n, p=[0.1, 0.2, 0.7] if shift else [0.5, 0.3, 0.2]
            ),
            "region": rng.choice(regions, n),
            "score": rng.normal(shift * 2, 1, n),
            "tenure": np.where(rng.random(n) < 0.1 + shift * 0.2, np.nan, rng.uniform(0, 10, n)),
        }
    )
    logits = 0.04 * (frame["age"] - 50) + 0.8 * frame["score"] + (frame["plan"] == "pro") * 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    return frame, y.to_numpy()


def train() -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = make_data(2000, 1)
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income", "score"]),
            ("ten", SimpleImputer(), ["tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))]).fit(X, y)


@dataclass
class Monitored:
    home: Path
    services: Services
    now: dt.datetime


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    """An endpoint with HOURS hours of traffic (the last one drifted), labels for the ordinary
    hours, a few errors, and a monitor run recorded at the end of every hour."""
    home = tmp_path_factory.mktemp("report") / "home"
    services = build(Settings(home=home), actor="tester")
    model = train()
    X, y = make_data(1000, 2)
    version = services.registry.log_model(model, name="churn", X_sample=X, y_sample=y)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    rng = np.random.default_rng(5)
    writer = services.log_writer()
    labels: list[tuple[str, object]] = []
    for hour in range(HOURS):
        drifted = hour == HOURS - 1
        start = now - dt.timedelta(hours=HOURS - hour)
        frame, truth = make_data(400, 10 + hour, shift=1.5 if drifted else 0.0)
        for k in range(20):
            part = frame.iloc[k * 20 : (k + 1) * 20]
            rid = f"h{hour}-r{k}"
            ts = (start + dt.timedelta(seconds=30 + k * 170)).timestamp()
            ok = k != 7 or hour % 2 == 0  # an error on every other hour
            writer.submit(
                PredictionEvent(
                    request_id=rid,
                    ts=ts,
                    endpoint=ENDPOINT,
                    model="churn",
                    version=version.version,
                    route="primary",
                    status="ok" if ok else "error",
                    latency_ms=float(rng.lognormal(1.5 + 0.1 * hour, 0.4)),
                    inputs=part,
                    predictions=model.predict(part) if ok else None,  # type: ignore[attr-defined]
                    probabilities=model.predict_proba(part) if ok else None,  # type: ignore[attr-defined]
                    classes=(0, 1) if ok else None,
                    error=None if ok else "ValueError: boom",
                )
            )
            if ok and not drifted:
                labels.append((rid, truth[k * 20 : (k + 1) * 20].tolist()))
    writer.close()
    assert services.feedback.append(labels).accepted == len(labels) * 20
    for hour in range(HOURS):
        services.monitoring.run(ENDPOINT, now=now - dt.timedelta(hours=HOURS - 1 - hour))
    yield Monitored(home, services, now)
    services.close()


@pytest.fixture(scope="module")
def data(monitored: Monitored) -> ReportData:
    return build_report(
        monitored.services.monitoring,
        ENDPOINT,
        window=dt.timedelta(hours=1),
        history_since=monitored.now - dt.timedelta(days=7),
        now=monitored.now,
    )


@pytest.fixture(scope="module")
def page(data: ReportData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(render_html(data), encoding="utf-8")
    return path


def test_report_data_has_the_window_and_the_history(data: ReportData) -> None:
    assert data.model == "churn" and data.version == 1 and data.rows == 380
    assert data.dataset is not None and data.dataset["drift"] is True
    assert {"income", "plan", "score"} <= set(data.dataset["drifted"])
    assert {f.name for f in data.features} == FEATURES
    assert data.features[0].drift and not data.features[-1].drift  # most drifted first
    income = next(f for f in data.features if f.name == "income")
    assert income.kind == "numeric" and income.test == "ks" and income.psi is not None
    kinds = [b.kind for b in income.bars]
    assert kinds[0] == "under" and kinds[-2:] == ["over", "missing"]
    assert len(income.edges) == len(income.bars) - 2  # inner bins + 1 edges
    assert sum(b.reference for b in income.bars) == pytest.approx(1.0)
    assert sum(b.current for b in income.bars) == pytest.approx(1.0)
    region = next(f for f in data.features if f.name == "region")
    unseen = {b.label for b in region.bars if b.kind == "unseen"}
    assert unseen == {"<b>atlantis</b>", "mu"}
    assert len(data.series["drift.share"]) == HOURS
    assert [v for _, v in data.series["drift.dataset"]][-1] == 1.0
    assert len(data.series["feature.income.psi"]) == HOURS
    assert len(data.series["performance.accuracy"]) == HOURS - 1  # the drifted hour has no label
    assert "latency.p99_ms" in data.series and "errors.rate" in data.series
    assert data.estimated is not None and 0.0 < data.estimated["accuracy"] < 1.0
    assert any(a["rule"] == "drift.dataset:above" and a["status"] == "open" for a in data.alerts)
    assert data.notes == []


def test_drifted_features_are_ranked_by_importance_times_drift(
    data: ReportData, page: Path
) -> None:
    """The version's global importance (recorded at packaging) rides along each feature."""
    shares = [f.importance for f in data.features]
    assert all(s is not None for s in shares)
    assert sum(s or 0.0 for s in shares) == pytest.approx(1.0)
    drifted = [f for f in data.features if f.drift]
    impacts = [f.impact for f in drifted]
    assert all(i is not None for i in impacts)
    assert impacts == sorted(impacts, reverse=True)  # drift that matters first
    assert not any(f.impact for f in data.features if not f.drift)
    assert data.drifted_importance == pytest.approx(sum(f.importance or 0 for f in drifted))
    html = page.read_text(encoding="utf-8")
    assert "Importance × PSI" in html and "drift that matters first" in html


def test_html_is_self_contained_small_and_escaped(data: ReportData, page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert page.stat().st_size <= 5 * 1024 * 1024
    assert not EXTERNAL.search(html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    for i, feature in enumerate(data.features):  # every feature: a table link and a plot
        assert f'href="#feat-{i}"' in html
        figure = html.split(f'id="feat-{i}"', 1)[1].split("</article>", 1)[0]
        assert figure.count("<svg") == 1, feature.name
    assert html.count("<svg") >= len(FEATURES) + 6  # + drift, PSI, performance, latency, ...
    assert "<b>atlantis</b>" not in html and "&lt;b&gt;atlantis&lt;/b&gt;" in html
    assert ENDPOINT in html and "churn v1" in html and "holm-corrected" in html


def test_json_twin_holds_the_same_data(data: ReportData) -> None:
    out = json.loads(json.dumps(render_json(data), allow_nan=False))
    assert out["format"] == "shipyard.monitoring.report/1"
    assert out["dataset"]["drift"] is True and out["endpoint"] == ENDPOINT
    assert {f["name"] for f in out["features"]} == FEATURES
    assert len(out["series"]["drift.share"]) == HOURS
    assert dt.datetime.fromisoformat(out["series"]["drift.share"][0][0]).tzinfo is not None
    assert set(out["features"][0]["bars"][0]) == {"label", "reference", "current", "kind", "detail"}


def test_report_size_is_bounded_for_any_data_size(data: ReportData) -> None:
    """The worst case build_report lets through: MAX_FEATURES features with long names, fine
    histograms (merged to MAX_BINS bins) and MAX_POINTS points on every series: still <= 5 MB."""
    rng = np.random.default_rng(0)
    reference = build_profile(pd.DataFrame({"x": rng.normal(size=5000)}), bins=100)
    window = observe(pd.DataFrame({"x": rng.normal(0.5, 1, 5000)}), reference)
    ref_x, win_x = reference.columns["x"], window.columns["x"]
    assert isinstance(ref_x, NumericProfile) and isinstance(win_x, NumericProfile)
    bars, edges, note = _numeric_bars(ref_x, win_x)
    assert len(edges) - 1 <= MAX_BINS and "100 bins merged" in note
    numeric = next(f for f in data.features if f.kind == "numeric")
    categorical = next(f for f in data.features if f.kind == "categorical")
    text = "free text " * 1000  # categories of a free-text column are clipped
    cat_ref = CategoricalProfile(
        "categorical", 100, 0, tuple(f"{i} {text}" for i in range(40)), (2,) * 40, 20, 60
    )
    cat_win = replace(cat_ref, unseen={f"new {i} {text}": 1 for i in range(20)})
    cat_bars, _ = _category_bars(cat_ref, cat_win)
    assert len(cat_bars) == MAX_CATEGORIES + 2 + MAX_UNSEEN
    assert max(len(b.label) for b in cat_bars) <= MAX_LABEL
    features = [
        replace(
            numeric if i % 2 else categorical,
            name=f"a_rather_long_feature_name_number_{i:04d}_" + "x" * 40,
            bars=bars if i % 2 else cat_bars,
            edges=edges if i % 2 else [],
            reason="ks adjusted p=1.2e-30 < 0.05 and psi=0.812 " * 3,
        )
        for i in range(MAX_FEATURES)
    ]
    start = data.window_end - dt.timedelta(days=30)
    full = [(start + dt.timedelta(minutes=5 * k), float(k % 7) / 7) for k in range(MAX_POINTS)]
    names = [*SERVICE_METRICS, *(f"performance.m{i}" for i in range(8))]
    names += [f"feature.{f.name}.psi" for f in features]
    alerts = data.alerts * (100 // max(1, len(data.alerts)))
    huge = replace(
        data, features=features, features_total=5000, alerts=alerts, series={m: full for m in names}
    )
    size = len(render_html(huge).encode())
    assert size <= 4 * 1024 * 1024, size  # the limit is 5 MB: keep a margin


def test_long_time_series_are_capped(monitored: Monitored) -> None:
    services = monitored.services
    end = monitored.now
    points = [
        MetricPoint(
            ENDPOINT,
            "latency.p50_ms",
            float(k),
            end - dt.timedelta(minutes=k + 1),
            end - dt.timedelta(minutes=k),
            monitor="load-test",
        )
        for k in range(MAX_POINTS + 20)
    ]
    services.monitoring.store.add_points(points)  # another monitor's: the default one is unaffected
    data = build_report(
        services.monitoring,
        ENDPOINT,
        window=dt.timedelta(hours=1),
        history_since=end - dt.timedelta(days=2),
        now=end,
        config=MonitorConfig(name="load-test"),
    )
    assert len(data.series["latency.p50_ms"]) == MAX_POINTS
    assert data.series["latency.p50_ms"][-1][1] == 0.0  # the latest points are kept
    assert any("capped" in n for n in data.notes)
    assert "capped to the latest" in render_html(data)


def test_an_idle_window_still_reports_the_history(monitored: Monitored) -> None:
    later = monitored.now + dt.timedelta(hours=3)  # nothing served in the last hour
    data = build_report(
        monitored.services.monitoring,
        ENDPOINT,
        window=dt.timedelta(hours=1),
        history_since=later - dt.timedelta(days=1),
        now=later,
    )
    assert data.rows == 0 and data.dataset is None and data.features == []
    assert data.version == 1 and len(data.series["drift.share"]) == HOURS
    html = render_html(data)
    assert "no rows in the window" in html and "Share of drifted features" in html
    assert json.loads(json.dumps(render_json(data)))["dataset"] is None


def test_bad_arguments_and_unknown_endpoints(monitored: Monitored) -> None:
    monitoring = monitored.services.monitoring
    now = monitored.now
    with pytest.raises(NotFound):
        build_report(
            monitoring,
            "nobody",
            window=dt.timedelta(hours=1),
            history_since=now - dt.timedelta(days=1),
            now=now,
        )
    with pytest.raises(InvalidArgument):
        build_report(monitoring, ENDPOINT, window=dt.timedelta(hours=1), history_since=now, now=now)


def cli_app() -> typer.Typer:
    """A minimal app around the command, with the real root's --home handling."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context, home: Path = typer.Option(..., "--home")) -> None:
        set_overrides(ctx, home, None)
        ctx.call_on_close(state(ctx).close)

    app.command("report")(report)
    return app


def test_cli_command_writes_both_files(monitored: Monitored, tmp_path: Path) -> None:
    out, data = tmp_path / "report.html", tmp_path / "report.json"
    args = ["--home", str(monitored.home), "report", ENDPOINT, "-o", str(out)]
    result = CliRunner().invoke(cli_app(), [*args, "--since", "2d", "--json-out", str(data)])
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.output.replace("\n", "")
    assert out.stat().st_size > 10_000 and out.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(data.read_text())["endpoint"] == ENDPOINT
    assert not list(tmp_path.glob(".*.tmp"))
    bad = CliRunner().invoke(cli_app(), [*args, "--window", "soon"])
    assert isinstance(bad.exception, InvalidArgument) and "--window" in str(bad.exception)
    args[-1] = str(tmp_path / "no-such-dir" / "r.html")
    missing = CliRunner().invoke(cli_app(), args)
    assert isinstance(missing.exception, InvalidArgument)
    assert "does not exist" in str(missing.exception)


def test_registered_command_runs_in_a_subprocess(monitored: Monitored, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out.html"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.interfaces.cli.main",
            "--home",
            str(monitored.home),
            "report",
            ENDPOINT,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert out.exists() and "Traceback" not in run.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.interfaces.cli.main",
            "--home",
            str(monitored.home),
            "report",
            ENDPOINT,
            "-o",
            str(out),
            "--since",
            "yesterday",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--since" in bad.stderr


def test_page_renders_in_headless_chromium(data: ReportData, page: Path, tmp_path: Path) -> None:
    sync_api, binary = chromium()
    errors: list[str] = []
    requests: list[str] = []
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(binary),
            args=LAUNCH_ARGS,
        )
        try:
            tab = browser.new_page(viewport={"width": 1360, "height": 900})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(page.as_uri(), wait_until="load")
            svgs = tab.locator("svg").count()
            text = tab.inner_text("body")
            widths = tab.eval_on_selector_all("svg", "es => es.map(e => e.clientWidth)")
            tab.click('a[href="#feat-0"]')
            target = tab.evaluate("location.hash")
            tab.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    assert svgs == page.read_text().count("<svg") and svgs >= len(FEATURES) + 6
    assert all(w > 200 for w in widths)  # every chart is laid out at a readable width
    assert ENDPOINT in text and "dataset drift" in text.lower() and "churn v1" in text
    assert target == "#feat-0"
    assert shot.stat().st_size > 10_000
