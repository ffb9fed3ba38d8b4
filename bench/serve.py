"""Model-server benchmark: ``shipyard serve`` next to the in-process floor and a bare Starlette app.

Two models are fitted on scikit-learn's breast-cancer data (``load_breast_cancer(as_frame=True)``,
30 float columns): ``lr``, a StandardScaler + LogisticRegression pipeline, and ``rf``, a 100-tree
RandomForestClassifier. Every request carries one row, ``{"records": [{...30 columns...}]}``, taken
in turn from the first 64 rows of the data set, and asks for predictions only.

What is measured, per model:

1. **floor** -- in-process ``model.predict`` of a 1-row DataFrame: p50/p99 latency and calls/s.
2. **bare starlette** -- "the Python HTTP limit": a ~25-line Starlette app (``BARE_APP``, written to
   a temporary file) under the same uvicorn, uvloop and httptools as ``shipyard serve``, in a
   subprocess. It does ``orjson.loads`` -> ``DataFrame.from_records`` -> ``predict`` ->
   ``orjson.dumps``, inline in the event loop: no validation, no thread hop, no metrics.
3. **shipyard** -- ``shipyard serve lr@champion rf@champion`` on a fresh registry home (both models
   logged with ``Client.log_model`` and aliased ``champion``), native route
   ``POST /v1/models/{name}/predict?probabilities=false``, without batching and with ``--batching``
   (``--max-batch-size 32 --max-wait-ms 5``). One server of each kind serves both models.

For 2 and 3: throughput (2xx answers per second) and p50/p99 latency at concurrency 1 and 32, each
step ``--duration`` seconds (and at most 200 000 requests) after a warm-up on the same connections.
Only 2xx answers count; non-2xx answers and transport errors are counted and shown. With batching,
the mean rows per ``predict`` call is read from the server's ``/metrics``.

The load generator is a separate process (this script with ``--loadgen``) on uvloop, closed loop:
``c`` workers, each with its own keep-alive connection, send the next request when the previous
answer is in. The default client writes pre-encoded HTTP/1.1 requests on an asyncio protocol and
parses answers with httptools (uvicorn's parser); ``--client httpx`` uses one httpx.AsyncClient
instead. Both are measured against a bare-app route that does no work (``/null``), to show the
client's own ceiling: on the 2-core machine this was written on, httpx saturates a core at about
800 req/s at c=1 and 200 req/s at c=32 (its connection pool is the bottleneck, see
encode/httpx#3215), the raw client does 9 000-13 000 req/s using under half a core, so it is the
default. Over each measured window the generator reads its own CPU time, the server processes' CPU
time (``/proc/PID/stat``) and the machine's (``/proc/stat``): "cli", "srv" and "other" CPU, in
cores. "other" is noise from unrelated processes and is flagged above 0.25 cores. On 2 cores the
client and the server share the CPUs, so a c=32 throughput is that of a server with one core.

Also measured, for every ``shipyard serve`` start: the time from ``Popen`` to the first HTTP answer
("listening") and to the first 200 from ``GET /v2/health/ready`` (polled every 20 ms; the first
start fetches the packages into an empty cache), each worker's own model load time (``/api/status``),
and the VmRSS of every uvicorn worker after load with ``--workers 1`` and ``--workers 2`` (workers
found by walking ``/proc``), with a breakdown of a worker's resident memory by origin (anonymous,
or the files of each installed package, from ``/proc/PID/smaps``).

gRPC next to HTTP: ``shipyard serve --grpc-port`` answers ``lr`` over V2 binary HTTP and V2 gRPC,
both driven by tritonclient's sync clients from this process, one request at a time, with one raw
FP64 tensor of 1 x 30 and of 10,000 x 30 (``--grpc-only`` runs just this part).

Diagnosis (no HTTP, in this process): each stage of a request is timed alone -- for the bare app
(parse, predict, encode) and for shipyard (``native.decode``, ``Signature.validate``,
``LoadedVersion.predict`` inline, through ``run_in_executor``, and while another thread validates,
``native.encode``, the executor hop, the Prometheus updates) -- and both ASGI apps are called
directly, so the added latency splits into HTTP cost (bare over HTTP minus bare in process) and
shipyard's own cost. A cProfile of the shipyard ASGI call (event-loop thread only) names the
functions that cost the most.

Targets (PASS/FAIL), per model: added latency of shipyard (no batching) over the floor at c=1,
p50 <= 1 ms and p99 <= 3 ms; shipyard / bare starlette throughput >= 0.8 (c=1 and c=32);
RandomForest batching / no-batching throughput at c=32 >= 3x; ready time <= 2 s.
Peers (MLflow, BentoML) are not run yet: see ``peers_note``.

Run from the repository root (about 3 minutes with the defaults, under 2 with --quick)::

    PYTHONPATH=src python bench/serve.py                     # 5 s per load step
    PYTHONPATH=src python bench/serve.py --quick             # 2 s per step, shorter diagnosis
    PYTHONPATH=src python bench/serve.py --json results.json # also write JSON (- for stdout)
    PYTHONPATH=src python bench/serve.py --client httpx      # drive the servers with httpx

The run imports shipyard from a copy of ``src/`` taken at its start (here and in every server), so
edits made meanwhile cannot mix versions. Every server binds 127.0.0.1 on a free port in its own
process group, which is terminated (then killed) at the end, on errors and on Ctrl-C. Latency
tails on a shared 2-core machine are noisy: look at the "other CPU" columns, compare p50s and
re-run before trusting one p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.util
import json
import math
import os
import pickle
import platform
import pstats
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
MODELS = {
    "lr": "StandardScaler + LogisticRegression pipeline",
    "rf": "RandomForestClassifier, 100 trees",
}
CONCURRENCIES = (1, 32)
ROWS = 64
MAX_REQUESTS = 200_000
MAX_FLOOR_CALLS = 20_000
READY_POLL_S = 0.020
READY_TIMEOUT_S = 90.0
BATCH_SIZE = 32
BATCH_WAIT_MS = 5.0
PEERS_ENV = "SHIPYARD_BENCH_PEERS_PYTHON"

ADDED_P50_TARGET_MS = 1.0
ADDED_P99_TARGET_MS = 3.0
THROUGHPUT_RATIO_TARGET = 0.8
BATCHING_GAIN_TARGET = 3.0
READY_TARGET_S = 2.0
NOISY_CPU = 0.25
"""Cores used by other processes during a step above which the step is flagged as noisy."""

BARE_APP = '''
"""The bare Starlette app of bench/serve.py: parse, predict, answer. Nothing else."""
import os
import pickle

import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

with open(os.environ["BENCH_BARE_MODELS"], "rb") as fh:
    MODELS = pickle.load(fh)


async def predict(request: Request) -> Response:
    model = MODELS[request.path_params["model"]]
    records = orjson.loads(await request.body())["records"]
    out = model.predict(pd.DataFrame.from_records(records))
    body = orjson.dumps({"predictions": out}, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json")


async def null(request: Request) -> Response:
    await request.body()
    return Response(b'{"predictions":[0]}', media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


app = Starlette(
    routes=[
        Route("/predict/{model}", predict, methods=["POST"]),
        Route("/null", null, methods=["POST"]),
        Route("/ready", ready, methods=["GET"]),
    ]
)
'''


# -- statistics ----------------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted samples, linearly interpolated (numpy's default)."""
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize_ms(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    if not ordered:
        return {"p50_ms": math.nan, "p99_ms": math.nan, "mean_ms": math.nan, "max_ms": math.nan}
    return {
        "p50_ms": percentile(ordered, 0.50) * 1e3,
        "p99_ms": percentile(ordered, 0.99) * 1e3,
        "mean_ms": sum(ordered) / len(ordered) * 1e3,
        "max_ms": ordered[-1] * 1e3,
    }


@dataclass
class Step:
    """One row of a model's table: the floor, or one server at one concurrency."""

    setup: str
    concurrency: int | None
    ok: int
    rate: float
    """2xx answers (or floor calls) per second."""
    p50_ms: float
    p99_ms: float
    mean_ms: float
    non_2xx: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_sample: str | None = None
    server_cpu: float | None = None
    client_cpu: float | None = None
    other_cpu: float | None = None
    """CPU used by every other process on the machine during the window (noise)."""
    rows_per_predict: float | None = None


# -- /proc helpers -------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state, 1 the parent)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of the processes (all their threads), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def busy_cpu_seconds() -> float:
    """CPU time every process on the machine spent running (/proc/stat), in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from /proc (no psutil needed)."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parent_of[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parent_of.items() if pp == parent]
        found += children
        frontier += children
    return sorted(found)


SMAPS_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$")


def memory_breakdown(pid: int, min_mb: float = 10.0) -> str:
    """Resident memory of ``pid`` by origin (/proc/PID/smaps): anonymous, and each package's files."""
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return ""
    by_origin: Counter[str] = Counter()
    origin = "anon"
    for line in lines:
        header = SMAPS_HEADER.match(line)
        if header is not None:
            path = header.group(1)
            package = re.search(r"site-packages/([^/]+)", path)
            if package is not None:
                origin = package.group(1)
            else:
                origin = "anon" if not path or path.startswith("[") else "other files"
        elif line.startswith("Rss:"):
            by_origin[origin] += int(line.split()[1])
    parts = [f"{k} {v / 1024:.0f}" for k, v in by_origin.most_common() if v / 1024 >= min_mb]
    return ", ".join(parts) + " MB"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# -- server processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerFailed(RuntimeError):
    pass


class ServerProcess:
    """A server in its own process group (killed as a group), logging to a file."""

    def __init__(
        self,
        label: str,
        argv: list[str],
        *,
        port: int,
        ready_path: str,
        log: Path,
        env: dict[str, str],
        workers: int = 1,
    ) -> None:
        self.label = label
        self.argv = argv
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.log = log
        self.env = env
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.listening_s = math.nan
        """Seconds from ``Popen`` to the first HTTP answer of any status."""
        self.ready_s = math.nan

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.log.parent,  # the run's temporary directory
                start_new_session=True,  # its own process group: stopped as one, spared our Ctrl-C
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Seconds from ``Popen`` to the first 200 on the ready path (polled every 20 ms)."""
        import httpx

        assert self.proc is not None
        url = self.base_url + self.ready_path
        with httpx.Client(timeout=0.5) as client:
            while True:
                if self.proc.poll() is not None:
                    raise ServerFailed(
                        f"{self.label} exited with {self.proc.returncode}{self.tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    status = client.get(url).status_code
                    if math.isnan(self.listening_s):
                        self.listening_s = time.perf_counter() - self.started
                    if status == 200:
                        self.ready_s = time.perf_counter() - self.started
                        return self.ready_s
                if time.perf_counter() - self.started > timeout:
                    raise ServerFailed(f"{self.label} not ready after {timeout:.0f} s{self.tail()}")
                time.sleep(READY_POLL_S)

    def load_seconds(self) -> dict[str, float]:
        """Per endpoint, the worker's own time to fetch, verify, load and warm (/api/status)."""
        import httpx

        status = httpx.get(self.base_url + "/api/status", timeout=5).json()
        return {e["name"]: e["load_seconds"] for e in status["endpoints"]}

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n  log: " + "\n  log: ".join(text) if text else ""

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes: the server itself, or its spawned children."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        return [p for p in descendants(self.proc.pid) if "spawn_main" in cmdline(p)]

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        pgid = proc.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)  # leftovers of the group (workers), if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


class Servers:
    """Every server started by this run, stopped at the end whatever happens."""

    def __init__(self, work: Path, src: Path) -> None:
        self.work = work
        self.src = src
        self.running: list[ServerProcess] = []

    def start(self, server: ServerProcess) -> ServerProcess:
        self.running.append(server)
        server.start()
        server.wait_ready()
        return server

    def stop(self, server: ServerProcess) -> None:
        server.stop()
        if server in self.running:
            self.running.remove(server)

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{self.src}{os.pathsep}{path}" if path else str(self.src)
        env.update(extra)
        return env

    def bare(self, app_dir: Path, models_pickle: Path) -> ServerProcess:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(app_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
        ]
        return ServerProcess(
            "bare starlette",
            argv,
            port=port,
            ready_path="/ready",
            log=self.work / "bare.log",
            env=self.env(BENCH_BARE_MODELS=str(models_pickle)),
        )

    def shipyard(
        self,
        home: Path,
        *,
        batching: bool,
        workers: int = 1,
        log: bool = True,
        grpc_port: int | None = None,
    ) -> ServerProcess:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "shipyard.interfaces.cli.main",
            "--home",
            str(home),
            "serve",
            *(f"{m}@champion" for m in MODELS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
        if batching:
            argv += [
                "--batching",
                "--max-batch-size",
                str(BATCH_SIZE),
                "--max-wait-ms",
                str(BATCH_WAIT_MS),
            ]
        else:
            argv.append("--no-batching")  # batching is the default
        if not log:
            argv.append("--no-log")
        if grpc_port is not None:
            argv += ["--grpc-port", str(grpc_port)]
        label = "shipyard " + ("(batching)" if batching else "(no batching)")
        if not log:
            label += " no log"
        if workers > 1:
            label += f" ×{workers} workers"
        tag = f"shipyard-{'b' if batching else 'nb'}-{workers}{'' if log else '-nolog'}"
        return ServerProcess(
            label,
            argv,
            port=port,
            ready_path="/v2/health/ready",
            log=self.work / f"{tag}.log",
            env=self.env(),
            workers=workers,
        )


# -- the load generator (runs in its own process: ``serve.py --loadgen``, spec on stdin) -----------------


def _expire(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no answer in time"))


class RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; answers parsed by httptools (uvicorn's own parser)."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError and friends
            self._fail(exc)

    def on_message_complete(self) -> None:  # httptools callback
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def request(self, payload: bytes, timeout: float) -> asyncio.Future[int]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = future = loop.create_future()
        self.transport.write(payload)
        handle = loop.call_later(timeout, _expire, future)
        future.add_done_callback(lambda _: handle.cancel())
        return future


class RawSender:
    """A worker's own connection, sending pre-encoded requests (the default client)."""

    def __init__(self, url: str, bodies: list[bytes], timeout: float) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n"
        )
        self.payloads = [head.format(len(b)).encode() + b for b in bodies]
        self.timeout = timeout
        self.conn: RawConnection | None = None

    async def send(self, index: int) -> int:
        if self.conn is None or self.conn.closed:
            loop = asyncio.get_running_loop()
            _, self.conn = await loop.create_connection(RawConnection, self.host, self.port)
        return await self.conn.request(self.payloads[index % len(self.payloads)], self.timeout)

    def reset(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()
        self.conn = None


class HttpxSender:
    """httpx.AsyncClient, shared by the workers (``--client httpx``)."""

    def __init__(self, client: Any, url: str, bodies: list[bytes]) -> None:
        self.client, self.url, self.bodies = client, url, bodies

    async def send(self, index: int) -> int:
        response = await self.client.post(self.url, content=self.bodies[index % len(self.bodies)])
        return int(response.status_code)

    def reset(self) -> None:
        return None


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    url: str = spec["url"]
    bodies = [b.encode() for b in spec["bodies"]]
    concurrency: int = spec["concurrency"]
    max_requests: int = spec["max_requests"]
    server_pids: list[int] = spec["server_pids"]
    timeout: float = spec["timeout_s"]
    clock = time.perf_counter
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    errors = 0
    error_sample: str | None = None
    measure_from = clock() + spec["warmup_s"]
    measure_until = measure_from + spec["duration_s"]
    window_end = measure_until
    done = False

    async def worker(index: int, sender: RawSender | HttpxSender) -> None:
        nonlocal errors, error_sample, done, window_end
        k = index
        while not done:
            t0 = clock()
            if t0 >= measure_until:
                return
            code = 0
            try:
                code = await sender.send(k)
            except Exception as exc:  # transport errors, timeouts: counted, never timed
                sender.reset()
                if error_sample is None:
                    error_sample = f"{type(exc).__name__}: {exc}"
            t1 = clock()
            k += 1
            if code == 0:
                await asyncio.sleep(0.01)  # no tight loop on a refusing server
            if t0 < measure_from or t1 > measure_until or done:
                continue
            if code == 0:
                errors += 1
            elif 200 <= code < 300:
                latencies.append(t1 - t0)
                if len(latencies) >= max_requests:
                    done, window_end = True, t1
            else:
                codes[code] += 1

    async def sampler() -> tuple[float, float, float]:
        """CPU over the window, in cores: this client, the server, everything else."""
        await asyncio.sleep(max(0.0, measure_from - clock()))
        t0, own0, srv0, all0 = (
            clock(), time.process_time(), cpu_seconds(server_pids), busy_cpu_seconds()
        )  # fmt: skip
        while not done and clock() < measure_until:
            await asyncio.sleep(min(0.05, max(0.0, measure_until - clock())))
        t1, own1, srv1, all1 = (
            clock(), time.process_time(), cpu_seconds(server_pids), busy_cpu_seconds()
        )  # fmt: skip
        wall = max(t1 - t0, 1e-9)
        own, srv = (own1 - own0) / wall, (srv1 - srv0) / wall
        return own, srv, max(0.0, (all1 - all0) / wall - own - srv)

    async def run(senders: list[RawSender | HttpxSender]) -> tuple[float, float, float]:
        cpu = asyncio.ensure_future(sampler())
        workers = asyncio.gather(*(worker(i, s) for i, s in enumerate(senders)))
        deadline = spec["warmup_s"] + spec["duration_s"] + timeout + 5
        await asyncio.wait_for(asyncio.gather(cpu, workers), deadline)
        return cpu.result()

    if spec["client"] == "httpx":
        import httpx

        limits = httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=120
        )
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:
            shared = HttpxSender(client, url, bodies)
            client_cpu, server_cpu, other_cpu = await run([shared] * concurrency)
    else:
        raw = [RawSender(url, bodies, timeout) for _ in range(concurrency)]
        try:
            client_cpu, server_cpu, other_cpu = await run(list(raw))
        finally:
            for sender in raw:
                sender.reset()
    window = max(window_end - measure_from, 1e-9)
    return {
        "ok": len(latencies),
        "rate": len(latencies) / window,
        **summarize_ms(latencies),
        "non_2xx": {str(k): v for k, v in sorted(codes.items())},
        "errors": errors,
        "error_sample": error_sample,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
        "other_cpu": other_cpu,
    }


def run_until_complete(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (what uvicorn uses), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def loadgen_main() -> int:
    spec = json.loads(sys.stdin.read())
    result = run_until_complete(_drive(spec))
    sys.stdout.write(json.dumps(result))
    return 0


def run_load(
    setup: str,
    url: str,
    bodies: list[str],
    concurrency: int,
    *,
    warmup_s: float,
    duration_s: float,
    server_pids: list[int],
    client: str = "raw",
) -> Step:
    spec = {
        "client": client,
        "url": url,
        "bodies": bodies,
        "concurrency": concurrency,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "max_requests": MAX_REQUESTS,
        "server_pids": server_pids,
        "timeout_s": 30.0,
    }
    out = subprocess.run(
        [sys.executable, __file__, "--loadgen"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=warmup_s + duration_s + 120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.decode(errors='replace')[-2000:]}")
    r = json.loads(out.stdout)
    return Step(
        setup,
        concurrency,
        ok=r["ok"],
        rate=r["rate"],
        p50_ms=r["p50_ms"],
        p99_ms=r["p99_ms"],
        mean_ms=r["mean_ms"],
        non_2xx=r["non_2xx"],
        errors=r["errors"],
        error_sample=r["error_sample"],
        server_cpu=r["server_cpu"],
        client_cpu=r["client_cpu"],
        other_cpu=r["other_cpu"],
    )


def batch_rows(base_url: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of ``shipyard_batch_rows`` per endpoint, from the server's /metrics."""
    import httpx

    text = httpx.get(base_url + "/metrics", timeout=5).text
    found: dict[str, list[float]] = {}
    for kind, endpoint, value in re.findall(
        r'^shipyard_batch_rows_(sum|count)\{endpoint="([^"]+)"\} (\S+)$', text, re.MULTILINE
    ):
        found.setdefault(endpoint, [0.0, 0.0])[0 if kind == "sum" else 1] = float(value)
    return {k: (v[0], v[1]) for k, v in found.items()}


# -- fixtures ------------------------------------------------------------------------------------------


@dataclass
class Fixture:
    models: dict[str, Any]
    frames: list[Any]
    """1-row DataFrames, for the floor."""
    bodies: list[str]
    """The same rows as native JSON bodies."""
    home: Path
    models_pickle: Path
    app_dir: Path


def build_fixture(work: Path) -> Fixture:
    import orjson
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.interfaces.sdk import Client

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models: dict[str, Any] = {
            "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
            "rf": RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y),
        }
    home = work / "home"
    with Client(home=home) as client:
        for name, model in models.items():
            version = client.log_model(model, name=name, X_sample=X, y_sample=y)
            client.set_alias(name, "champion", version.version)
    models_pickle = work / "models.pkl"
    models_pickle.write_bytes(pickle.dumps(models, pickle.HIGHEST_PROTOCOL))
    app_dir = work / "bare"
    app_dir.mkdir()
    (app_dir / "bare_app.py").write_text(BARE_APP)
    records = X.iloc[:ROWS].to_dict(orient="records")
    return Fixture(
        models=models,
        frames=[X.iloc[[i]] for i in range(ROWS)],
        bodies=[orjson.dumps({"records": [r]}).decode() for r in records],
        home=home,
        models_pickle=models_pickle,
        app_dir=app_dir,
    )


# -- in-process timing ---------------------------------------------------------------------------------


def sample(fn: Callable[[int], object], max_n: int, max_s: float, warmup: int = 20) -> list[float]:
    """Seconds per call of ``fn(i)``, for at most ``max_n`` calls and about ``max_s`` seconds."""
    for i in range(warmup):
        fn(i)
    clock = time.perf_counter
    samples: list[float] = []
    stop = clock() + max_s
    for i in range(max_n):
        t0 = clock()
        fn(i)
        t1 = clock()
        samples.append(t1 - t0)
        if t1 > stop:
            break
    return samples


async def sample_async(
    fn: Callable[[int], Awaitable[object]], max_n: int, max_s: float, warmup: int = 20
) -> list[float]:
    for i in range(warmup):
        await fn(i)
    clock = time.perf_counter
    samples: list[float] = []
    stop = clock() + max_s
    for i in range(max_n):
        t0 = clock()
        await fn(i)
        t1 = clock()
        samples.append(t1 - t0)
        if t1 > stop:
            break
    return samples


class CpuWindow:
    """From its creation: cores used by every process but this one (the noise of a measurement)."""

    def __init__(self) -> None:
        self.t0, self.own0, self.all0 = time.perf_counter(), time.process_time(), busy_cpu_seconds()

    def other(self) -> float:
        """NaN for windows under 0.25 s: /proc/stat counts in 10 ms ticks."""
        wall = time.perf_counter() - self.t0
        if wall < 0.25:
            return math.nan
        own = time.process_time() - self.own0
        return max(0.0, (busy_cpu_seconds() - self.all0 - own) / wall)


def floor_step(model: Any, frames: list[Any], duration_s: float) -> Step:
    window = CpuWindow()
    samples = sample(lambda i: model.predict(frames[i % len(frames)]), MAX_FLOOR_CALLS, duration_s)
    wall = time.perf_counter() - window.t0
    s = summarize_ms(samples)
    return Step(
        FLOOR,
        None,
        len(samples),
        len(samples) / wall,
        s["p50_ms"],
        s["p99_ms"],
        s["mean_ms"],
        other_cpu=window.other(),
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


# -- gRPC next to HTTP (V2 binary tensors, tritonclient) ---------------------------------------------

PROTOCOL_SHAPES = {"1×30": 1, "10,000×30": 10_000}
"""Rows per request of the gRPC / HTTP comparison (30 float64 columns: the breast-cancer data)."""


@dataclass
class ProtocolStep:
    protocol: str
    shape: str
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    mb_per_s: float


def protocol_steps(address: str, grpc_address: str, duration: float) -> list[ProtocolStep]:
    """``lr`` over V2 binary HTTP and V2 gRPC, with tritonclient's sync clients, one at a time.

    Both send the rows as one raw FP64 tensor ``[rows, 30]`` and ask for the ``prediction`` output
    only (binary over HTTP, ``raw_output_contents`` over gRPC); the client is the same library for
    both, so the difference is the transport and its codec on each side.
    """
    import numpy as np
    import tritonclient.grpc as tgrpc
    import tritonclient.http as thttp
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data.astype(np.float64)
    out: list[ProtocolStep] = []
    for shape, rows in PROTOCOL_SHAPES.items():
        batch = X[np.arange(rows) % len(X)]
        for protocol in ("http", "grpc"):
            if protocol == "http":
                client: Any = thttp.InferenceServerClient(address)
                inp: Any = thttp.InferInput("input-0", list(batch.shape), "FP64")
                inp.set_data_from_numpy(batch, binary_data=True)
                outs: Any = [thttp.InferRequestedOutput("prediction", binary_data=True)]
            else:
                client = tgrpc.InferenceServerClient(grpc_address)
                inp = tgrpc.InferInput("input-0", list(batch.shape), "FP64")
                inp.set_data_from_numpy(batch)
                outs = [tgrpc.InferRequestedOutput("prediction")]
            for _ in range(3):  # warm-up: connection, first predict of this size
                client.infer("lr", [inp], outputs=outs)
            latencies: list[float] = []
            started = time.perf_counter()
            while time.perf_counter() - started < duration and len(latencies) < MAX_REQUESTS:
                t0 = time.perf_counter()
                result = client.infer("lr", [inp], outputs=outs)
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
            assert result.as_numpy("prediction").shape == (rows,)
            client.close()
            latencies.sort()
            out.append(
                ProtocolStep(
                    protocol=protocol,
                    shape=shape,
                    requests=len(latencies),
                    rate=len(latencies) / elapsed,
                    p50_ms=latencies[len(latencies) // 2] * 1e3,
                    p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
                    mb_per_s=len(latencies) * batch.nbytes / elapsed / 1e6,
                )
            )
    return out


def render_protocols(results: Results) -> Any:
    from rich.table import Table

    table = Table(
        title="[bold]gRPC next to HTTP[/] — lr, V2 binary tensors, tritonclient, c=1",
        title_justify="left",
        header_style="bold",
    )
    for col in ("rows×cols", "protocol", "requests", "req/s", "p50 ms", "p99 ms", "input MB/s",
                "gRPC / HTTP req/s"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("rows×cols", "protocol") else "right")
    http = {s.shape: s for s in results.protocols if s.protocol == "http"}
    for s in results.protocols:
        ratio = f"{s.rate / http[s.shape].rate:.2f}×" if s.protocol == "grpc" else ""
        table.add_row(s.shape, s.protocol, str(s.requests), f"{s.rate:,.0f}", _ms(s.p50_ms),
                      _ms(s.p99_ms), f"{s.mb_per_s:,.1f}", ratio)  # fmt: skip
    table.caption = (
        "one sync client in the benchmark process, sequential requests for the step duration; "
        "input MB/s = tensor bytes sent per second"
    )
    table.caption_justify = "left"
    return table


# -- the benchmark -------------------------------------------------------------------------------------


@dataclass
class ServerInfo:
    label: str
    workers: int
    listening_s: float | None
    ready_s: float | None
    load_s: dict[str, float]
    rss_mb: list[float]
    memory: str
    note: str = ""


@dataclass
class Results:
    steps: dict[str, list[Step]] = field(default_factory=lambda: {m: [] for m in MODELS})
    ceiling: list[Step] = field(default_factory=list)
    servers: list[ServerInfo] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    protocols: list[ProtocolStep] = field(default_factory=list)

    def find(self, model: str, setup: str, concurrency: int | None) -> Step | None:
        for s in self.steps[model]:
            if s.setup == setup and s.concurrency == concurrency:
                return s
        return None


FLOOR = "floor (in-process predict)"
BARE = "bare starlette"
SHIPYARD = "shipyard (no batching)"
BATCHING = "shipyard (batching)"
NO_LOG = "shipyard (no batching, no log)"


def log(console: Any, message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')} {message}[/]", highlight=False)


def source_fingerprint() -> dict[str, float]:
    """Modification time of every file under src/ (the servers import it at each start)."""
    return {
        str(path.relative_to(SRC)): path.stat().st_mtime
        for path in SRC.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def snapshot_source(work: Path) -> Path:
    """Copy src/ and import shipyard from the copy, here and in every server of this run.

    Edits made to src/ while the benchmark runs (a migration, a changed package format) would
    otherwise make the servers started later disagree with the registry written at the start.
    """
    import shutil

    if "shipyard" in sys.modules:
        raise RuntimeError("shipyard was imported before the source snapshot")
    snapshot = work / "src"
    shutil.copytree(SRC, snapshot, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    sys.path.insert(0, str(snapshot))
    return snapshot


def run_protocols(
    fx: Fixture, servers: Servers, duration: float, console: Any, results: Results
) -> None:
    grpc_port = free_port()
    log(console, "starting shipyard with --grpc-port: gRPC next to HTTP")
    server = servers.start(servers.shipyard(fx.home, batching=True, grpc_port=grpc_port))
    try:
        address = server.base_url.removeprefix("http://")
        results.protocols = protocol_steps(address, f"127.0.0.1:{grpc_port}", duration)
    finally:
        servers.stop(server)


def run_benchmark(args: argparse.Namespace, console: Any, work: Path, results: Results) -> None:
    duration, warmup = args.duration, args.warmup
    src = snapshot_source(work)
    log(console, "fitting the models and registering them in a fresh home")
    fx = build_fixture(work)
    if args.grpc_only:
        servers = Servers(work, src)
        try:
            run_protocols(fx, servers, duration, console, results)
        finally:
            servers.stop_all()
        return

    def load(
        setup: str, url: str, c: int, pids: list[int], client: str = args.client, **kw: float
    ) -> Step:
        timing = {"warmup_s": warmup, "duration_s": duration, **kw}
        return run_load(setup, url, fx.bodies, c, server_pids=pids, client=client, **timing)

    def info(server: ServerProcess, pids: list[int], note: str) -> ServerInfo:
        loads = server.load_seconds() if server.ready_path.startswith("/v2") else {}
        return ServerInfo(
            label=server.label,
            workers=server.workers,
            listening_s=None if server.ready_path == "/ready" else server.listening_s,
            ready_s=None if server.ready_path == "/ready" else server.ready_s,
            load_s=loads,
            rss_mb=[rss_mb(p) or math.nan for p in pids],
            memory=memory_breakdown(pids[0]) if pids else "",
            note=note,
        )

    for name, model in fx.models.items():
        log(console, f"{name}: floor, in-process predict for {duration:g} s")
        results.steps[name].append(floor_step(model, fx.frames, duration))

    servers = Servers(work, src)
    try:
        # bare starlette: the load generator's ceiling on /null (both clients), then both models
        bare = servers.start(servers.bare(fx.app_dir, fx.models_pickle))
        pids = bare.worker_pids()
        for client in dict.fromkeys((args.client, "raw", "httpx")):
            for c in CONCURRENCIES:
                log(console, f"load-generator ceiling: {client} client, bare /null c={c}")
                step = load(
                    f"{client} client → bare /null", bare.base_url + "/null", c, pids, client
                )
                results.ceiling.append(step)
        for name in MODELS:
            for c in CONCURRENCIES:
                log(console, f"{name}: {BARE} c={c}")
                results.steps[name].append(load(BARE, f"{bare.base_url}/predict/{name}", c, pids))
        results.servers.append(info(bare, pids, "pickled models, no shipyard"))
        servers.stop(bare)

        # shipyard serve, without and with batching
        for batching, setup, logging_on in (
            (False, SHIPYARD, True),
            (False, NO_LOG, False),
            (True, BATCHING, True),
        ):
            log(console, f"starting {setup}")
            server = servers.start(servers.shipyard(fx.home, batching=batching, log=logging_on))
            pids = server.worker_pids()
            for name in MODELS:
                url = f"{server.base_url}/v1/models/{name}/predict?probabilities=false"
                for c in CONCURRENCIES:
                    log(console, f"{name}: {setup} c={c}")
                    before = batch_rows(server.base_url).get(name, (0.0, 0.0))
                    step = load(setup, url, c, pids)
                    after = batch_rows(server.base_url).get(name, (0.0, 0.0))
                    calls = after[1] - before[1]
                    step.rows_per_predict = (after[0] - before[0]) / calls if calls else None
                    results.steps[name].append(step)
            note = "warm package cache" if batching else "first start: empty package cache"
            results.servers.append(info(server, pids, note))
            servers.stop(server)

        # two workers: ready time and RSS of each worker after a short load on both models
        log(console, "starting shipyard with --workers 2 (ready time, RSS per worker)")
        server = servers.start(servers.shipyard(fx.home, batching=False, workers=2))
        pids = server.worker_pids()
        for name in MODELS:
            url = f"{server.base_url}/v1/models/{name}/predict?probabilities=false"
            load("warm-up", url, 8, pids, warmup_s=0.2, duration_s=min(1.0, duration))
        supervisor = rss_mb(server.proc.pid) if server.proc else None
        results.servers.append(
            info(server, pids, f"supervisor {supervisor or math.nan:.0f} MB; load s: one worker")
        )
        servers.stop(server)
        run_protocols(fx, servers, duration, console, results)
    finally:
        servers.stop_all()

    log(console, "diagnosis: stage timings and a profile, in process")
    results.diagnosis = diagnose(
        fx, budget_s=min(1.5, duration / 3), profile_requests=args.profile_requests
    )


# -- output --------------------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return {None: "[dim]n/a[/]", True: "[green]PASS[/]", False: "[bold red]FAIL[/]"}[ok]


def _noise(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"[bold red]{value:.2f}[/]" if value > NOISY_CPU else f"{value:.2f}"


def render_model(results: Results, name: str) -> Any:
    from rich.table import Table

    table = Table(
        title=f"[bold]{name}[/] — {MODELS[name]} — 1 row per request, native route, predictions only",
        title_justify="left",
        header_style="bold",
    )
    for col, justify in (
        ("setup", "left"),
        ("c", "right"),
        ("ok", "right"),
        ("non-2xx/err", "right"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("mean ms", "right"),
        ("srv CPU", "right"),
        ("srv ms/req", "right"),
        ("cli CPU", "right"),
        ("other CPU", "right"),
        ("rows/predict", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    previous = ""
    for s in results.steps[name]:
        if previous and s.setup != previous:
            table.add_section()
        previous = s.setup
        bad = sum(s.non_2xx.values()) + s.errors
        bad_text = "" if s.concurrency is None else (f"[bold red]{bad}[/]" if bad else "0")
        table.add_row(
            s.setup,
            "–" if s.concurrency is None else str(s.concurrency),
            str(s.ok),
            bad_text,
            f"{s.rate:,.0f}",
            _ms(s.p50_ms),
            _ms(s.p99_ms),
            _ms(s.mean_ms),
            "" if s.server_cpu is None else f"{s.server_cpu:.2f}",
            "" if s.server_cpu is None or not s.rate else f"{s.server_cpu / s.rate * 1e3:.2f}",
            "" if s.client_cpu is None else f"{s.client_cpu:.2f}",
            _noise(s.other_cpu),
            "" if s.rows_per_predict is None else f"{s.rows_per_predict:.1f}",
        )
    table.caption = (
        "c = concurrent requests (closed loop, keep-alive); ok = 2xx answers in the window; "
        f"CPU in cores (this machine has {os.cpu_count()}); srv ms/req = server CPU time per "
        "answer (less sensitive to noise than latency); other CPU = every other process on "
        f"the machine (noise, red above {NOISY_CPU:g}); rows/predict from the server's /metrics"
    )
    table.caption_justify = "left"
    return table


@dataclass
class Check:
    model: str
    label: str
    value: str
    target: str
    passed: bool | None


def checks(results: Results) -> list[Check]:
    out: list[Check] = []
    for name in MODELS:
        floor = results.find(name, FLOOR, None)
        bare1 = results.find(name, BARE, 1)
        sy1 = results.find(name, SHIPYARD, 1)
        if floor and sy1:
            added50 = sy1.p50_ms - floor.p50_ms
            added99 = sy1.p99_ms - floor.p99_ms
            out.append(
                Check(
                    name,
                    "added latency over floor, p50, c=1",
                    f"{added50:.2f} ms",
                    f"≤ {ADDED_P50_TARGET_MS:g} ms",
                    added50 <= ADDED_P50_TARGET_MS,
                )
            )
            out.append(
                Check(
                    name,
                    "added latency over floor, p99, c=1",
                    f"{added99:.2f} ms",
                    f"≤ {ADDED_P99_TARGET_MS:g} ms",
                    added99 <= ADDED_P99_TARGET_MS,
                )
            )
        if floor and bare1 and sy1:
            out.append(
                Check(
                    name,
                    "  of which: bare HTTP over floor, p50 / p99",
                    f"{bare1.p50_ms - floor.p50_ms:.2f} / {bare1.p99_ms - floor.p99_ms:.2f} ms",
                    "",
                    None,
                )
            )
            out.append(
                Check(
                    name,
                    "  of which: shipyard over bare, p50 / p99",
                    f"{sy1.p50_ms - bare1.p50_ms:.2f} / {sy1.p99_ms - bare1.p99_ms:.2f} ms",
                    "",
                    None,
                )
            )
        for c in CONCURRENCIES:
            bare, sy = results.find(name, BARE, c), results.find(name, SHIPYARD, c)
            if bare and sy and bare.rate:
                ratio = sy.rate / bare.rate
                out.append(
                    Check(
                        name,
                        f"shipyard / bare throughput, c={c}",
                        f"{ratio:.2f}",
                        f"≥ {THROUGHPUT_RATIO_TARGET:g}",
                        ratio >= THROUGHPUT_RATIO_TARGET,
                    )
                )
        for c in CONCURRENCIES:
            logged, unlogged = results.find(name, SHIPYARD, c), results.find(name, NO_LOG, c)
            if logged and unlogged and unlogged.rate:
                cost = 1 - logged.rate / unlogged.rate
                out.append(
                    Check(
                        name,
                        f"prediction-log cost in throughput, c={c}",
                        f"{cost:+.1%}",
                        "≤ 5%",
                        cost <= 0.05,
                    )
                )
        nb, b = results.find(name, SHIPYARD, 32), results.find(name, BATCHING, 32)
        if nb and b and nb.rate:
            gain = b.rate / nb.rate
            target = name == "rf"
            out.append(
                Check(
                    name,
                    "batching / no batching throughput, c=32",
                    f"{gain:.2f}×",
                    f"≥ {BATCHING_GAIN_TARGET:g}×" if target else "",
                    gain >= BATCHING_GAIN_TARGET if target else None,
                )
            )
    for info in results.servers:
        if info.ready_s is not None:
            out.append(
                Check(
                    "both",
                    f"ready time: {info.label}",
                    f"{info.ready_s:.2f} s",
                    f"≤ {READY_TARGET_S:g} s",
                    info.ready_s <= READY_TARGET_S,
                )
            )
    return out


def render_checks(items: list[Check]) -> Any:
    from rich.table import Table

    table = Table(title="[bold]targets[/]", title_justify="left", header_style="bold")
    for col in ("model", "check", "value", "target", ""):
        table.add_column(col)
    for c in items:
        table.add_row(
            c.model, c.label, c.value, c.target, "" if not c.target else _verdict(c.passed)
        )
    return table


def render_servers(results: Results) -> Any:
    from rich.table import Table

    table = Table(title="[bold]server processes[/]", title_justify="left", header_style="bold")
    for col in ("server", "workers", "listening s", "ready s", "model load s", "VmRSS per worker",
                "resident memory of a worker by origin", "note"):  # fmt: skip
        table.add_column(col)
    for s in results.servers:
        loads = ", ".join(f"{k} {v:.2f}" for k, v in s.load_s.items())
        rss = ", ".join(f"{r:.0f} MB" for r in s.rss_mb)
        table.add_row(s.label, str(s.workers), _ms(s.listening_s), _ms(s.ready_s), loads, rss,
                      s.memory, s.note)  # fmt: skip
    table.caption = (
        "listening = Popen to the first HTTP answer (503 while loading); ready = to the first 200 "
        "on /v2/health/ready; model load = the worker's own fetch + verify + load + warm, from "
        "/api/status (the first load in a process includes importing scikit-learn and skops)"
    )
    table.caption_justify = "left"
    return table


def render_ceiling(results: Results) -> Any:
    from rich.table import Table

    table = Table(
        title="[bold]load generator ceiling[/] — separate process, uvloop; bare app route that does "
        "no work",
        title_justify="left",
        header_style="bold",
    )
    for col in ("client", "c", "req/s", "p50 ms", "p99 ms", "cli CPU", "srv CPU", "other CPU"):
        table.add_column(col, justify="left" if col == "client" else "right")
    for s in results.ceiling:
        table.add_row(s.setup, str(s.concurrency), f"{s.rate:,.0f}", _ms(s.p50_ms), _ms(s.p99_ms),
                      _ms(s.client_cpu), _ms(s.server_cpu), _noise(s.other_cpu))  # fmt: skip
    return table


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


def peers_note() -> str:
    # TODO(bench): when SHIPYARD_BENCH_PEERS_PYTHON names a python with mlflow==3.17.2 and
    # bentoml==1.4.40, save both models with that python (mlflow.sklearn.save_model on the pickled
    # models, a one-class @bentoml.service wrapping model.predict), start `python -m mlflow models
    # serve -m DIR --env-manager local -h 127.0.0.1 -p PORT` and `python -m bentoml serve
    # service:Svc --host 127.0.0.1 --port PORT` as ServerProcess'es (ready paths /ping, /readyz),
    # drive POST /invocations {"dataframe_records": [...]} and the BentoML route with run_load, and
    # add rows + shipyard/peer throughput ratios. Not done: it needs that venv to be tested against.
    if os.environ.get(PEERS_ENV):
        return (
            f"peers: {PEERS_ENV} is set, but peer runs are not implemented yet (TODO in peers_note)"
        )
    return "peers: not configured"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    summary = __doc__.splitlines()[0] if __doc__ else None
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load step (5)")
    parser.add_argument("--quick", action="store_true", help="2 s steps, shorter warm-ups")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the results as JSON to PATH (no PATH or '-': stdout, tables to stderr)",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: raw HTTP/1.1 on asyncio + httptools (default), or httpx.AsyncClient",
    )
    parser.add_argument("--grpc-only", action="store_true", help="only the gRPC / HTTP comparison")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 2.0)
    if not 0.5 <= args.duration <= 60:
        parser.error("--duration must be between 0.5 and 60 seconds")
    args.warmup = 0.5 if args.quick else 1.0
    args.profile_requests = 200 if args.quick else 500
    return args


def _finite(value: Any) -> Any:
    """``value`` with NaN floats replaced by None (strict JSON has no NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.loadgen:
        return loadgen_main()
    from rich.console import Console

    json_to_stdout = args.json == "-"
    console = Console(stderr=json_to_stdout)
    if not console.is_terminal:
        console = Console(stderr=json_to_stdout, width=150)

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers

    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.perf_counter()
    source_before = source_fingerprint()
    results = Results()
    failure: str | None = None
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-serve-") as tmp:
        try:
            run_benchmark(args, console, Path(tmp), results)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted; every server stopped[/]")
            return 130
        except Exception as exc:  # report what was measured, then the error
            failure = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    source_after = source_fingerprint()
    changed = sorted(
        path
        for path in set(source_before) | set(source_after)
        if source_before.get(path) != source_after.get(path)
    )

    for name in MODELS:
        console.print(render_model(results, name))
        console.print()
    items = checks(results)
    console.print(render_checks(items))
    console.print()
    console.print(render_servers(results))
    console.print()
    if results.protocols:
        console.print(render_protocols(results))
        console.print()
    if results.diagnosis is not None:
        for table in render_diagnosis(results.diagnosis):
            console.print(table)
            console.print()
    console.print(render_ceiling(results))
    console.print()
    console.print(peers_note())
    noisy = [s for steps in results.steps.values() for s in steps if (s.other_cpu or 0) > NOISY_CPU]
    if noisy:
        console.print(
            f"[yellow]warning:[/] other processes used more than {NOISY_CPU:g} cores during "
            f"{len(noisy)} step(s); those numbers are disturbed — re-run on a quiet machine"
        )
    if changed:
        console.print(
            f"[yellow]note:[/] {len(changed)} file(s) under src/ changed during the run "
            f"(e.g. {', '.join(changed[:3])}); this run used a snapshot of src/ taken at its start"
        )
    if failure:
        console.print(f"[bold red]benchmark failed:[/] {failure}", highlight=False)
    failed = [c for c in items if c.target and c.passed is False]
    console.print(
        f"[dim]Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.duration:g} s per step, {elapsed:.0f} s total; "
        f"{len(failed)} target(s) missed[/]"
    )

    if args.json is not None:
        payload = {
            "duration_s": args.duration,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "elapsed_s": round(elapsed, 1),
            "steps": {m: [asdict(s) for s in steps] for m, steps in results.steps.items()},
            "load_generator_ceiling": [asdict(s) for s in results.ceiling],
            "servers": [asdict(s) for s in results.servers],
            "checks": [asdict(c) for c in items],
            "diagnosis": asdict(results.diagnosis) if results.diagnosis else None,
            "peers": peers_note(),
            "source_changed_during_run": changed,
            "failure": failure,
        }
        rendered = json.dumps(_finite(payload), indent=2, default=str) + "\n"
        if json_to_stdout:
            sys.stdout.write(rendered)
        else:
            Path(args.json).write_text(rendered)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
