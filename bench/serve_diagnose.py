"""Where a request's time goes, in process and without HTTP: ``bench/serve.py --diagnose``.

Each stage of a request is timed alone -- for the bare app (parse, predict, encode) and for shipyard
(``native.decode``, ``Signature.validate``, ``LoadedVersion.predict`` inline, through
``run_in_executor``, and while another thread validates, ``native.encode``, the executor hop, the
Prometheus updates) -- and both ASGI apps are called directly, so the added latency splits into HTTP
cost (bare over HTTP minus bare in process) and shipyard's own cost. A cProfile of the shipyard
ASGI call (event-loop thread only) names the functions that cost the most.
"""

from __future__ import annotations

import asyncio
import cProfile
import importlib.util
import os
import pstats
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serve import (
    MODELS,
    CpuWindow,
    Fixture,
    _noise,
    percentile,
    run_until_complete,
    sample,
    sample_async,
)


async def asgi_post(app: Any, path: str, query: bytes, body: bytes) -> int:
    """One POST through an ASGI app, in process; the response status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


@dataclass
class Stage:
    path: str
    label: str
    p50_us: float
    p99_us: float
    n: int
    other_cpu: float


@dataclass
class ProfileLine:
    function: str
    calls_per_request: float
    tottime_us: float
    cumtime_us: float


@dataclass
class Diagnosis:
    stages: dict[str, list[Stage]] = field(default_factory=dict)
    profile_model: str = ""
    profile_requests: int = 0
    profile_top_tottime: list[ProfileLine] = field(default_factory=list)
    profile_shipyard_cumtime: list[ProfileLine] = field(default_factory=list)


def _stage(path: str, label: str, samples: list[float], other_cpu: float) -> Stage:
    ordered = sorted(samples)
    p50, p99 = percentile(ordered, 0.5) * 1e6, percentile(ordered, 0.99) * 1e6
    return Stage(path, label, p50, p99, len(ordered), other_cpu)


CONTENDED = "  same, while another thread runs Signature.validate (GIL)"


def _validate_until(model: Any, data: object, stop: threading.Event) -> None:
    while not stop.is_set():
        model.validate(data)


def _short(filename: str, line: int, func: str) -> str:
    if filename == "~":
        return func  # a builtin
    parts = Path(filename).parts
    for anchor in ("shipyard", "starlette", "pandas", "sklearn", "numpy", "asyncio", "uvloop"):
        if anchor in parts:
            parts = parts[parts.index(anchor) :]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{line} {func}"


SyncFn = Callable[[int], object]
AsyncFn = Callable[[int], Awaitable[object]]


async def _model_stages(
    name: str, model: Any, app: Any, bare_app: Any, fx: Fixture, budget_s: float
) -> list[Stage]:
    """Each stage of one request on its own, for the bare app and for shipyard, plus both apps."""
    import orjson
    import pandas as pd

    from shipyard.serving.codecs import native
    from shipyard.serving.metrics import ServingMetrics

    dataplane = app.state.shipyard.dataplane
    loaded = dataplane.serving(name)
    loop = asyncio.get_running_loop()
    bodies = [b.encode() for b in fx.bodies]
    nb = len(bodies)
    decoded = [native.decode(b) for b in bodies]
    validated = [loaded.model.validate(d) for d in decoded]
    preds = [loaded.predict(v, False).predictions for v in validated]
    metrics = ServingMetrics()

    def bare_parse(i: int) -> object:
        return pd.DataFrame.from_records(orjson.loads(bodies[i % nb])["records"])

    def bare_encode(i: int) -> object:
        return orjson.dumps({"predictions": preds[i % nb]}, option=orjson.OPT_SERIALIZE_NUMPY)

    def shipyard_encode(i: int) -> object:
        return native.encode(
            model=name,
            version=1,
            request_id=uuid.uuid4().hex,
            predictions=preds[i % nb],
            probabilities=None,
            classes=None,
        )

    def touch_metrics(_: int) -> None:  # what prediction_route and DataPlane.infer update
        uuid.uuid4()
        gauge = metrics.in_flight.labels(name)
        gauge.inc()
        gauge.dec()
        metrics.queue_seconds.labels(name, "1").observe(0.0)
        metrics.inference_seconds.labels(name, "1").observe(0.001)
        metrics.batch_rows.labels(name).observe(1)
        metrics.requests.labels(name, "1", "native", "200").inc()
        metrics.request_seconds.labels(name, "1", "native").observe(0.001)

    def noop() -> None:
        return None

    path = f"/v1/models/{name}/predict"
    series: list[tuple[str, str, SyncFn | None, AsyncFn | None]] = [
        ("bare", "orjson.loads + DataFrame.from_records", bare_parse, None),
        ("bare", "model.predict (the floor)", lambda i: model.predict(fx.frames[i % nb]), None),
        ("bare", "orjson.dumps(predictions)", bare_encode, None),
        (
            "bare",
            "= whole app, ASGI call in process",
            None,
            lambda i: asgi_post(bare_app, f"/predict/{name}", b"", bodies[i % nb]),
        ),
        ("shipyard", "native.decode (orjson.loads)", lambda i: native.decode(bodies[i % nb]), None),
        (
            "shipyard",
            "Signature.validate (records -> checked frame)",
            lambda i: loaded.model.validate(decoded[i % nb]),
            None,
        ),
        (
            "shipyard",
            "LoadedVersion.predict (model.predict)",
            lambda i: loaded.predict(validated[i % nb], False),
            None,
        ),
        (
            "shipyard",
            "  same, via loop.run_in_executor (as DataPlane.infer)",
            None,
            lambda i: loop.run_in_executor(
                dataplane.executor, loaded.predict, validated[i % nb], False
            ),
        ),
        (
            "shipyard",
            CONTENDED,
            lambda i: loaded.predict(validated[i % nb], False),
            None,
        ),
        ("shipyard", "native.encode (+ uuid4 request id)", shipyard_encode, None),
        (
            "shipyard",
            "loop.run_in_executor hop (no-op)",
            None,
            lambda i: loop.run_in_executor(dataplane.executor, noop),
        ),
        ("shipyard", "7 Prometheus updates + uuid4", touch_metrics, None),
        (
            "shipyard",
            "= whole app, ASGI call in process",
            None,
            lambda i: asgi_post(app, path, b"probabilities=false", bodies[i % nb]),
        ),
    ]
    max_n = 5000 if name == "lr" else 500
    stages: list[Stage] = []
    for group, label, fn, afn in series:
        window = CpuWindow()
        if (
            label == CONTENDED
        ):  # a second thread validates all along, as the loop thread does at c>1
            stop = threading.Event()
            busy = threading.Thread(
                target=_validate_until, args=(loaded.model, decoded[0], stop), daemon=True
            )
            busy.start()
            try:
                assert fn is not None
                samples = sample(fn, max_n, budget_s, warmup=3)
            finally:
                stop.set()
                busy.join()
        elif fn is not None:
            samples = sample(fn, max_n, budget_s)
        else:
            assert afn is not None
            samples = await sample_async(afn, max_n, budget_s)
        stages.append(_stage(group, label, samples, window.other()))
    return stages


def diagnose(fx: Fixture, budget_s: float, profile_requests: int) -> Diagnosis:
    """Stage timings and a profile, in this process, with no HTTP (see the module docstring)."""
    return run_until_complete(_diagnose(fx, budget_s, profile_requests))


async def _diagnose(fx: Fixture, budget_s: float, profile_requests: int) -> Diagnosis:

    from shipyard.app import build
    from shipyard.core.config import Settings
    from shipyard.interfaces.http.app import create_app
    from shipyard.interfaces.http.config import EndpointConfig, ServeConfig

    os.environ["BENCH_BARE_MODELS"] = str(fx.models_pickle)
    spec = importlib.util.spec_from_file_location("bench_bare_app", fx.app_dir / "bare_app.py")
    assert spec is not None and spec.loader is not None
    bare_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare_module)
    bare_app = bare_module.app

    services = build(Settings(home=fx.home))
    config = ServeConfig(endpoints=[EndpointConfig(name=m, ref=f"{m}@champion") for m in MODELS])
    app = create_app(services, config)
    dataplane = app.state.shipyard.dataplane
    dataplane.load_all()
    bodies = [b.encode() for b in fx.bodies]
    nb = len(bodies)
    diagnosis = Diagnosis()

    try:
        for name, model in fx.models.items():
            diagnosis.stages[name] = await _model_stages(name, model, app, bare_app, fx, budget_s)

        # cProfile of the shipyard ASGI call: the event-loop thread (predict runs in the executor)
        name = "lr"
        diagnosis.profile_model = name
        diagnosis.profile_requests = profile_requests
        for i in range(50):
            await asgi_post(
                app, f"/v1/models/{name}/predict", b"probabilities=false", bodies[i % nb]
            )
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(profile_requests):
            await asgi_post(
                app, f"/v1/models/{name}/predict", b"probabilities=false", bodies[i % nb]
            )
        profiler.disable()
        raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
        raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        lines = [
            (
                key,
                ProfileLine(
                    _short(*key),
                    nc / profile_requests,
                    tt / profile_requests * 1e6,
                    ct / profile_requests * 1e6,
                ),
            )
            for key, (_cc, nc, tt, ct, _callers) in raw.items()
        ]
        lines = [(k, pl) for k, pl in lines if "bench/serve.py" not in k[0]]
        diagnosis.profile_top_tottime = [
            pl for _, pl in sorted(lines, key=lambda kv: -kv[1].tottime_us)[:15]
        ]
        ours = [(k, pl) for k, pl in lines if f"{os.sep}shipyard{os.sep}" in k[0]]
        diagnosis.profile_shipyard_cumtime = [
            pl for _, pl in sorted(ours, key=lambda kv: -kv[1].cumtime_us)[:12]
        ]
    finally:
        await dataplane.close()
        services.close()
    return diagnosis


def render_diagnosis(d: Diagnosis) -> list[Any]:
    from rich.table import Table

    out: list[Any] = []
    for name, stages in d.stages.items():
        table = Table(
            title=f"[bold]where the time goes[/] — {name}, one request, in process, no HTTP",
            title_justify="left",
            header_style="bold",
        )
        for col, justify in (
            ("path", "left"),
            ("stage", "left"),
            ("n", "right"),
            ("p50 µs", "right"),
            ("p99 µs", "right"),
            ("other CPU", "right"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        previous = ""
        for s in stages:
            if previous and s.path != previous:
                table.add_section()
            previous = s.path
            table.add_row(
                s.path,
                s.label,
                str(s.n),
                f"{s.p50_us:,.0f}",
                f"{s.p99_us:,.0f}",
                _noise(s.other_cpu),
                style="bold" if s.label.startswith("=") else "",
            )
        table.caption = (
            "each stage timed alone on the same 64 rows; the GIL row runs predict in this thread "
            f"while a second thread validates without pause (switch interval "
            f"{sys.getswitchinterval() * 1e3:g} ms), as the event loop does under load"
        )
        table.caption_justify = "left"
        out.append(table)
    for title, lines in (
        ("top functions by own time (tottime)", d.profile_top_tottime),
        ("shipyard functions by cumulative time", d.profile_shipyard_cumtime),
    ):
        table = Table(
            title=f"[bold]cProfile[/] — {d.profile_model}, {d.profile_requests} in-process requests,"
            f" event-loop thread — {title} (µs per request, profiler-inflated)",
            title_justify="left",
            header_style="bold",
        )
        for col, justify in (
            ("function", "left"),
            ("calls/req", "right"),
            ("tottime µs", "right"),
            ("cumtime µs", "right"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for pl in lines:
            table.add_row(
                pl.function,
                f"{pl.calls_per_request:g}",
                f"{pl.tottime_us:,.0f}",
                f"{pl.cumtime_us:,.0f}",
            )
        out.append(table)
    return out
