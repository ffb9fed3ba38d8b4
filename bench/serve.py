"""Model-server benchmark: ``shipyard serve`` next to a bare Starlette app holding the same model,
every goal as a ratio to bare from one run, with MLflow's and BentoML's servers beside them
(``--with-peers``).

Two models are fitted on scikit-learn's breast-cancer data (``load_breast_cancer(as_frame=True)``,
30 float columns): ``lr``, a StandardScaler + LogisticRegression pipeline (the goals are judged on
it), and ``rf``, a 100-tree RandomForestClassifier (the batching gain). Every request carries one
row, ``{"records": [{...30 columns...}]}``, taken in turn from the first 64 rows of the data set, and
asks for predictions only.

Servers, each alone on CPU 0 (``taskset -c 0``), while this process and its load generator run on
CPU 1 (so the client never eats the server's core):

* **bare starlette** -- "the Python HTTP limit": a ~30-line Starlette app (``BARE_APP``) holding the
  pickled models, under the uvicorn, uvloop and httptools that ``shipyard serve`` uses: it does
  ``orjson.loads`` -> ``DataFrame.from_records`` -> ``predict`` -> ``orjson.dumps`` in the event
  loop, and nothing else;
* **shipyard** -- ``shipyard serve lr@champion rf@champion`` on a fresh registry home, with its
  defaults (adaptive batching on, prediction log on), native route
  ``POST /v1/models/{name}/predict?probabilities=false``;
* **shipyard --no-batching** -- the same without batching;
* with ``--with-peers``: ``mlflow models serve`` and a BentoML service with the same pipeline (see
  ``serve_peers.py``; their venvs are made on first use).

Measured:

1. **cold start to first answer**: from ``Popen`` to the first 2xx answer to a prediction request
   (polled every 10 ms), for bare and shipyard alternately, ``--starts`` times each after one
   untimed start of each (the median is judged);
2. for each server: throughput (2xx answers per second) and p50/p99 latency for ``lr`` at
   concurrency 1 and 32, and ``rf`` at 32, each ``--duration`` seconds after a warm-up on the same
   connections; Shipyard's rows per predict call come from its ``/metrics``;
3. after that load: each process's VmRSS and the PSS of every process of the server
   (``/proc/PID/smaps_rollup``), and where a worker's resident memory comes from;
4. ``shipyard serve --workers 4``: the total PSS of its supervisor and workers after a short load,
   against the one-worker server's;
5. gRPC next to HTTP: ``shipyard serve --grpc-port`` answers ``lr`` over V2 binary HTTP and V2
   gRPC, both driven by tritonclient's sync clients from this process, one request at a time, with
   one raw FP64 tensor of 1 x 30 and of 10,000 x 30 (``--grpc-only`` runs just this part).

The load generator is ``wrk`` (one thread, ``c`` keep-alive connections, closed loop, a Lua script
that rotates the 64 bodies) when it is installed (``apt-get install wrk``), else this script with
``--loadgen`` in a separate process: pre-encoded HTTP/1.1 requests on uvloop, answers parsed with
httptools. Its ceiling on a bare route that does no work (``/null``) is shown. Over each measured
window the CPU of the server's processes (``/proc/PID/stat``), of the client and of the whole
machine (``/proc/stat``) is read: "srv", "cli" and "other" CPU, in cores; "other" is noise from
unrelated processes and is flagged above 0.25 cores.

Goals (PASS/FAIL, each shipyard / bare from this run): cold start <= 1.3x; VmRSS per worker
<= 1.2x; lr throughput at c=1 >= 0.85x (with and without batching) and at c=32 without batching
>= 0.9x; p99 <= 2x at c=1 and at c=32; total PSS with ``--workers 4`` <= 2.5x the one-worker
server's; and batching, the default, costs nothing at c=1 (>= 0.9x of no batching) and brings
>= 3x at c=32 on the random forest.

Run from the repository root (about 4 minutes with the defaults, 2 with --quick, plus the peers)::

    PYTHONPATH=src python bench/serve.py                     # 5 s per load step
    PYTHONPATH=src python bench/serve.py --quick             # 2 s per step, 2 timed starts
    PYTHONPATH=src python bench/serve.py --with-peers        # and MLflow, BentoML
    PYTHONPATH=src python bench/serve.py --json results.json # also write JSON (- for stdout)
    PYTHONPATH=src python bench/serve.py --diagnose          # and where a request's time goes

The run imports shipyard from a copy of ``src/`` taken at its start (here and in every server), so
edits made meanwhile cannot mix versions. Every server binds 127.0.0.1 on a free port in its own
process group, which is terminated (then killed) at the end, on errors and on Ctrl-C. The machine's
load average is printed at the start and the end: on a shared machine, compare ratios (both sides
see the same noise), look at the "other CPU" columns, and re-run before trusting one p99.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import http.client
import importlib.util
import json
import math
import os
import pickle
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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
CELLS = (("lr", 1), ("lr", 32), ("rf", 32))
"""(model, concurrency) of every server's load steps."""
ROWS = 64
MAX_REQUESTS = 200_000
MAX_FLOOR_CALLS = 20_000
POLL_S = 0.010
START_TIMEOUT_S = 180.0
SERVER_CPU, CLIENT_CPU = 0, 1
WORKERS = 4

COLD_START_RATIO = 1.3
RSS_RATIO = 1.2
C1_RATIO = 0.85
C32_RATIO = 0.9
P99_RATIO = 2.0
PSS_RATIO = 2.5
BATCHING_C1_RATIO = 0.9
BATCHING_GAIN = 3.0
NOISY_CPU = 0.25
"""Cores used by other processes during a step above which the step is flagged as noisy."""

BARE = "bare starlette"
SHIPYARD = "shipyard"
NO_BATCHING = "shipyard --no-batching"
FLOOR = "floor (in-process predict)"

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


app = Starlette(
    routes=[
        Route("/predict/{model}", predict, methods=["POST"]),
        Route("/null", null, methods=["POST"]),
    ]
)
'''

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, " ..
    "\\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"mean_us\\": %%f}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


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
    """One load step: a server (or the floor), a model, a concurrency."""

    setup: str
    model: str
    concurrency: int
    ok: int
    rate: float
    """2xx answers (or floor calls) per second."""
    p50_ms: float
    p99_ms: float
    mean_ms: float
    non_2xx: int = 0
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pss_mb(pid: int) -> float | None:
    """Proportional set size: shared pages counted once across the processes that map them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pinning() -> bool:
    """Whether servers and client can have a CPU each (2+ CPUs and ``taskset``)."""
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


# -- server processes ----------------------------------------------------------------------------------


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
        routes: dict[str, str],
        wrap: str,
        log: Path,
        env: dict[str, str],
        cwd: Path,
        workers: int = 1,
    ) -> None:
        self.label = label
        self.argv = (["taskset", "-c", str(SERVER_CPU)] if pinning() else []) + argv
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.routes = routes
        """Per model it serves, the path (and query) of a prediction."""
        self.wrap = wrap
        """The JSON key of the list of rows in a request body."""
        self.log = log
        self.env = env
        self.cwd = cwd
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.first_answer_s = math.nan
        """Seconds from ``Popen`` to the first 2xx answer to a prediction."""
        self.first_answer_cpu_s = math.nan
        """CPU seconds its processes had used by then (less sensitive to a busy machine)."""

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stopped as one, spared our Ctrl-C
            )

    def wait_first_answer(self, body: bytes, timeout: float = START_TIMEOUT_S) -> float:
        """Seconds from ``Popen`` to the first 2xx answer to a prediction (polled every 10 ms)."""
        assert self.proc is not None
        path = next(iter(self.routes.values()))
        headers = {"Content-Type": "application/json"}
        while True:
            if self.proc.poll() is not None:
                raise ServerFailed(f"{self.label} exited with {self.proc.returncode}{self.tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("POST", path, body, headers)
                status = conn.getresponse().status
            except OSError:
                status = 0
            finally:
                conn.close()
            if 200 <= status < 300:
                self.first_answer_s = time.perf_counter() - self.started
                self.first_answer_cpu_s = cpu_seconds(self.pids())
                return self.first_answer_s
            if time.perf_counter() - self.started > timeout:
                raise ServerFailed(f"{self.label} gave no answer in {timeout:.0f} s{self.tail()}")
            time.sleep(POLL_S)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n  log: " + "\n  log: ".join(text) if text else ""

    def pids(self) -> list[int]:
        """The server's processes: the one started, and all its descendants."""
        assert self.proc is not None
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        pgid = proc.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)  # leftovers of the group (workers), if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


class Servers:
    """Every server started by this run, stopped at the end whatever happens."""

    def __init__(self, work: Path, src: Path, fx: Fixture) -> None:
        self.work = work
        self.src = src
        self.fx = fx
        self.running: list[ServerProcess] = []

    def start(self, server: ServerProcess) -> ServerProcess:
        self.running.append(server)
        server.start()
        server.wait_first_answer(self.fx.bodies[server.wrap][0])
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

    def bare(self) -> ServerProcess:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(self.fx.app_dir),
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log", "--no-server-header"]  # fmt: skip
        return ServerProcess(
            BARE,
            argv,
            port=port,
            routes={m: f"/predict/{m}" for m in MODELS},
            wrap="records",
            log=self.work / "bare.log",
            env=self.env(BENCH_BARE_MODELS=str(self.fx.models_pickle)),
            cwd=self.work,
        )

    def shipyard(
        self, *, batching: bool = True, workers: int = 1, grpc_port: int | None = None
    ) -> ServerProcess:
        port = free_port()
        argv = [sys.executable, "-m", "shipyard.interfaces.cli.main", "--home", str(self.fx.home),
                "serve", *(f"{m}@champion" for m in MODELS), "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
        if not batching:
            argv.append("--no-batching")  # batching is the default
        if grpc_port is not None:
            argv += ["--grpc-port", str(grpc_port)]
        label = SHIPYARD if batching else NO_BATCHING
        if workers > 1:
            label += f" --workers {workers}"
        return ServerProcess(
            label,
            argv,
            port=port,
            routes={m: f"/v1/models/{m}/predict?probabilities=false" for m in MODELS},
            wrap="records",
            log=self.work / f"shipyard-{'b' if batching else 'nb'}-{workers}.log",
            env=self.env(),
            cwd=self.work,
            workers=workers,
        )

    def peer(self, peer: Any) -> ServerProcess:
        port = free_port()
        return ServerProcess(
            peer.label,
            [a.replace("{port}", str(port)) for a in peer.argv],
            port=port,
            routes={"lr": peer.path},
            wrap=peer.wrap,
            log=self.work / f"peer-{peer.name}.log",
            env=peer.env,
            cwd=peer.cwd,
        )


# -- load generators -----------------------------------------------------------------------------------


def wrk_script(work: Path, wrap: str, bodies: list[bytes]) -> Path:
    path = work / f"wrk-{wrap}.lua"
    if not path.exists():
        items = ", ".join(f"[==[{b.decode()}]==]" for b in bodies)
        path.write_text(WRK_SCRIPT % items)
    return path


def wrk_step(
    setup: str,
    model: str,
    url: str,
    script: Path,
    c: int,
    *,
    warmup_s: float,
    duration_s: float,
    server_pids: list[int],
) -> Step:
    argv = ["wrk", "-t1", f"-c{c}", "--timeout", "10s", "-s", str(script)]
    warm = subprocess.run(
        [*argv, f"-d{max(1, round(warmup_s))}s", url], capture_output=True, check=False
    )
    if warm.returncode != 0:
        raise RuntimeError(f"wrk failed: {warm.stderr.decode(errors='replace')[-500:]}")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, srv0, all0 = time.perf_counter(), cpu_seconds(server_pids), busy_cpu_seconds()
    out = subprocess.run(
        [*argv, f"-d{max(1, round(duration_s))}s", url],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    t1, srv1, all1 = time.perf_counter(), cpu_seconds(server_pids), busy_cpu_seconds()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {out.stderr[-500:]}{out.stdout[-500:]}")
    r = json.loads(line.removeprefix("WRKJSON "))
    wall = max(t1 - t0, 1e-9)
    cli = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / wall
    srv = (srv1 - srv0) / wall
    ok = r["requests"] - r["status"]
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return Step(
        setup,
        model,
        c,
        ok=ok,
        rate=ok / max(r["duration_us"] / 1e6, 1e-9),
        p50_ms=r["p50_us"] / 1e3,
        p99_ms=r["p99_us"] / 1e3,
        mean_ms=r["mean_us"] / 1e3,
        non_2xx=r["status"],
        errors=errors,
        error_sample=None if not errors else f"wrk socket errors: {r}",
        server_cpu=srv,
        client_cpu=cli,
        other_cpu=max(0.0, (all1 - all0) / wall - srv - cli),
    )


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

    async def worker(index: int, sender: RawSender) -> None:
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

    async def run(senders: list[RawSender]) -> tuple[float, float, float]:
        cpu = asyncio.ensure_future(sampler())
        workers = asyncio.gather(*(worker(i, s) for i, s in enumerate(senders)))
        deadline = spec["warmup_s"] + spec["duration_s"] + timeout + 5
        await asyncio.wait_for(asyncio.gather(cpu, workers), deadline)
        return cpu.result()

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


def python_step(
    setup: str,
    model: str,
    url: str,
    bodies: list[bytes],
    c: int,
    *,
    warmup_s: float,
    duration_s: float,
    server_pids: list[int],
) -> Step:
    spec = {
        "url": url,
        "bodies": [b.decode() for b in bodies],
        "concurrency": c,
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
        model,
        c,
        ok=r["ok"],
        rate=r["rate"],
        p50_ms=r["p50_ms"],
        p99_ms=r["p99_ms"],
        mean_ms=r["mean_ms"],
        non_2xx=sum(r["non_2xx"].values()),
        errors=r["errors"],
        error_sample=r["error_sample"],
        server_cpu=r["server_cpu"],
        client_cpu=r["client_cpu"],
        other_cpu=r["other_cpu"],
    )


def batch_rows(base_url: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of ``shipyard_batch_rows`` per endpoint, from the server's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", int(base_url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
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
    bodies: dict[str, list[bytes]]
    """The same rows as JSON bodies, by the key that holds the rows (``records``, MLflow's
    ``dataframe_records``)."""
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
        bodies={
            key: [orjson.dumps({key: [r]}) for r in records]
            for key in ("records", "dataframe_records")
        },
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


def floor_step(name: str, model: Any, frames: list[Any], duration_s: float) -> Step:
    window = CpuWindow()
    samples = sample(lambda i: model.predict(frames[i % len(frames)]), MAX_FLOOR_CALLS, duration_s)
    wall = time.perf_counter() - window.t0
    s = summarize_ms(samples)
    return Step(
        FLOOR,
        name,
        1,
        len(samples),
        len(samples) / wall,
        s["p50_ms"],
        s["p99_ms"],
        s["mean_ms"],
        other_cpu=window.other(),
    )


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


# -- the benchmark -------------------------------------------------------------------------------------


@dataclass
class ServerInfo:
    label: str
    workers: int
    starts_s: list[float]
    """Cold starts to the first answer (the untimed first start left out)."""
    starts_cpu_s: list[float]
    """The CPU seconds of those starts."""
    rss_mb: list[float]
    """VmRSS of each of its processes, after the load."""
    pss_mb: float
    """Total PSS of its processes, after the load."""
    memory: str
    note: str = ""

    @property
    def start_s(self) -> float:
        return statistics.median(self.starts_s) if self.starts_s else math.nan

    @property
    def start_cpu_s(self) -> float:
        return statistics.median(self.starts_cpu_s) if self.starts_cpu_s else math.nan


@dataclass
class Results:
    steps: list[Step] = field(default_factory=list)
    ceiling: list[Step] = field(default_factory=list)
    servers: dict[str, ServerInfo] = field(default_factory=dict)
    protocols: list[ProtocolStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diagnosis: Any = None
    load_before: str = ""
    load_after: str = ""

    def find(self, setup: str, model: str, concurrency: int) -> Step | None:
        for s in self.steps:
            if (s.setup, s.model, s.concurrency) == (setup, model, concurrency):
                return s
        return None


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
    # compiled once, as an installed package is: no server start compiles it (the caller may
    # run with PYTHONDONTWRITEBYTECODE, which would make every start compile shipyard again)
    compileall.compile_dir(str(snapshot), quiet=1)
    sys.path.insert(0, str(snapshot))
    return snapshot


def run_protocols(
    fx: Fixture, servers: Servers, duration: float, console: Any, results: Results
) -> None:
    if importlib.util.find_spec("tritonclient") is None:
        results.notes.append("gRPC next to HTTP: skipped, tritonclient is not installed")
        return
    grpc_port = free_port()
    log(console, "starting shipyard with --grpc-port: gRPC next to HTTP")
    server = servers.start(servers.shipyard(grpc_port=grpc_port))
    try:
        address = server.base_url.removeprefix("http://")
        results.protocols = protocol_steps(address, f"127.0.0.1:{grpc_port}", duration)
    finally:
        servers.stop(server)


class Runner:
    """The load steps and memory readings of one run."""

    def __init__(self, args: argparse.Namespace, console: Any, work: Path, fx: Fixture) -> None:
        self.args, self.console, self.work, self.fx = args, console, work, fx

    def step(
        self, setup: str, model: str, server: ServerProcess, c: int, path: str | None = None
    ) -> Step:
        url = server.base_url + (path or server.routes[model])
        bodies = self.fx.bodies[server.wrap]
        timing = {"warmup_s": self.args.warmup, "duration_s": self.args.duration}
        pids = server.pids()
        if self.args.client == "wrk":
            script = wrk_script(self.work, server.wrap, bodies)
            return wrk_step(setup, model, url, script, c, server_pids=pids, **timing)
        return python_step(setup, model, url, bodies, c, server_pids=pids, **timing)

    def load(self, server: ServerProcess, results: Results) -> None:
        shipyard = server.label.startswith(SHIPYARD)
        for model, c in CELLS:
            if model not in server.routes:
                continue
            log(self.console, f"{server.label}: {model} c={c}")
            before = batch_rows(server.base_url).get(model, (0.0, 0.0)) if shipyard else None
            step = self.step(server.label, model, server, c)
            if before is not None:
                after = batch_rows(server.base_url).get(model, (0.0, 0.0))
                calls = after[1] - before[1]
                step.rows_per_predict = (after[0] - before[0]) / calls if calls else None
            results.steps.append(step)

    def info(
        self, server: ServerProcess, starts: list[tuple[float, float]] | None, note: str = ""
    ) -> ServerInfo:
        """What a server used; ``starts``: its timed (wall, CPU) starts, or just this one."""
        pids = server.pids()
        starts = starts or [(server.first_answer_s, server.first_answer_cpu_s)]
        return ServerInfo(
            label=server.label,
            workers=server.workers,
            starts_s=[wall for wall, _ in starts],
            starts_cpu_s=[cpu for _, cpu in starts],
            rss_mb=[rss_mb(p) or math.nan for p in pids],
            pss_mb=sum(pss_mb(p) or 0.0 for p in pids),
            memory=memory_breakdown(pids[-1]) if pids else "",
            note=note,
        )


def run_benchmark(args: argparse.Namespace, console: Any, work: Path, results: Results) -> None:
    src = snapshot_source(work)
    if pinning():
        os.sched_setaffinity(0, {CLIENT_CPU})  # this process and the load generator: CPU 1
    else:
        results.notes.append("not pinned: servers and client share the CPUs (1 CPU or no taskset)")
    peers: list[Any] = []
    if args.with_peers:
        import serve_peers

        root = serve_peers.peers_dir(args.peers_dir)
        for name in serve_peers.PINS:
            log(console, f"peer {name}: its venv under {root}, its model")
            peers.append(serve_peers.prepare(root, name, work, lambda m: log(console, m)))
    log(console, "fitting the models and registering them in a fresh home")
    fx = build_fixture(work)
    servers = Servers(work, src, fx)
    if args.grpc_only:
        try:
            run_protocols(fx, servers, args.duration, console, results)
        finally:
            servers.stop_all()
        return
    runner = Runner(args, console, work, fx)
    for name, model in fx.models.items():
        log(console, f"{name}: floor, in-process predict for {args.duration:g} s")
        results.steps.append(floor_step(name, model, fx.frames, args.duration))

    try:
        # cold starts, alternately; the first start of each is untimed (file caches)
        starts: dict[str, list[tuple[float, float]]] = {BARE: [], SHIPYARD: []}
        for i in range(args.starts):
            for make in (servers.bare, servers.shipyard):
                server = servers.start(make())
                if i:
                    starts[server.label].append((server.first_answer_s, server.first_answer_cpu_s))
                log(console, f"{server.label}: first answer after {server.first_answer_s:.2f} s")
                servers.stop(server)

        # bare: the load generator's ceiling on /null, then the models
        bare = servers.start(servers.bare())
        starts[BARE].append((bare.first_answer_s, bare.first_answer_cpu_s))
        for c in (1, 32):
            log(console, f"load-generator ceiling ({args.client}): bare /null c={c}")
            results.ceiling.append(
                runner.step(f"{args.client} → bare /null", "-", bare, c, path="/null")
            )
        runner.load(bare, results)
        results.servers[BARE] = runner.info(bare, starts[BARE], "pickled models, no shipyard")
        servers.stop(bare)

        for batching in (True, False):
            server = servers.start(servers.shipyard(batching=batching))
            timed = starts.setdefault(server.label, [])
            timed.append((server.first_answer_s, server.first_answer_cpu_s))
            runner.load(server, results)
            results.servers[server.label] = runner.info(server, timed)
            servers.stop(server)

        for peer in peers:
            server = servers.start(servers.peer(peer))
            runner.load(server, results)
            results.servers[server.label] = runner.info(server, None, "one start")
            servers.stop(server)

        log(console, f"starting shipyard --workers {WORKERS} (total PSS)")
        server = servers.start(servers.shipyard(workers=WORKERS))
        for model in MODELS:  # every worker answers some, so each has run the request path
            step = runner.step("warm-up", model, server, 32)
            if step.ok == 0:
                raise RuntimeError(f"--workers {WORKERS}: no answer under load{server.tail()}")
        results.servers[server.label] = runner.info(server, None, "supervisor + workers; one start")
        servers.stop(server)
        if not args.no_grpc:
            run_protocols(fx, servers, args.duration, console, results)
    finally:
        servers.stop_all()

    if args.diagnose:
        from serve_diagnose import diagnose

        log(console, "diagnosis: stage timings and a profile, in process")
        results.diagnosis = diagnose(fx, budget_s=min(1.5, args.duration / 3), profile_requests=500)


# -- output --------------------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or not base or math.isnan(value) or math.isnan(base):
        return None
    return value / base


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _verdict(ok: bool | None) -> str:
    return {None: "[dim]n/a[/]", True: "[green]PASS[/]", False: "[bold red]FAIL[/]"}[ok]


def _noise(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"[bold red]{value:.2f}[/]" if value > NOISY_CPU else f"{value:.2f}"


def render_steps(results: Results, model: str) -> Any:
    from rich.table import Table

    table = Table(
        title=f"[bold]{model}[/] — {MODELS[model]} — 1 row per request, predictions only; "
        f"server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}",
        title_justify="left",
        header_style="bold",
    )
    for col in ("setup", "c", "req/s", "× bare", "p50 ms", "p99 ms", "p99 × bare", "non-2xx/err",
                "srv CPU", "srv ms/req", "cli CPU", "other CPU", "rows/predict"):  # fmt: skip
        table.add_column(col, justify="left" if col == "setup" else "right")
    previous = ""
    for s in results.steps:
        if s.model != model:
            continue
        if previous and s.setup != previous:
            table.add_section()
        previous = s.setup
        bare = results.find(BARE, model, s.concurrency)
        floor = s.setup == FLOOR
        bad = s.non_2xx + s.errors
        table.add_row(
            s.setup,
            "–" if floor else str(s.concurrency),
            f"{s.rate:,.0f}",
            "" if floor or bare is None else _x(_ratio(s.rate, bare.rate)),
            _ms(s.p50_ms),
            _ms(s.p99_ms),
            "" if floor or bare is None else _x(_ratio(s.p99_ms, bare.p99_ms)),
            "" if floor else (f"[bold red]{bad}[/]" if bad else "0"),
            _ms(s.server_cpu),
            "" if s.server_cpu is None or not s.rate else f"{s.server_cpu / s.rate * 1e3:.2f}",
            _ms(s.client_cpu),
            _noise(s.other_cpu),
            "" if s.rows_per_predict is None else f"{s.rows_per_predict:.1f}",
        )
    table.caption = (
        "c = concurrent keep-alive connections, closed loop; req/s = 2xx answers per second; "
        f"CPU in cores (this machine has {os.cpu_count()}); srv ms/req = server CPU per answer "
        "(less sensitive to noise than latency); other CPU = every other process on the machine "
        f"(noise, red above {NOISY_CPU:g}); rows/predict from the server's /metrics"
    )
    table.caption_justify = "left"
    return table


def render_servers(results: Results) -> Any:
    from rich.table import Table

    table = Table(title="[bold]server processes[/]", title_justify="left", header_style="bold")
    for col in ("server", "cold start s", "× bare", "its CPU s", "× bare", "VmRSS MB", "× bare",
                "PSS MB (all)", "resident memory of a worker by origin", "note"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("server", "note") else "right")
    bare = results.servers.get(BARE)
    for s in results.servers.values():
        starts = ", ".join(f"{v:.2f}" for v in s.starts_s)
        worker_rss = s.rss_mb[-1] if s.rss_mb else math.nan
        table.add_row(
            s.label,
            f"{s.start_s:.2f} ({starts})" if len(s.starts_s) > 1 else starts,
            "" if bare is None else _x(_ratio(s.start_s, bare.start_s)),
            f"{s.start_cpu_s:.2f}",
            "" if bare is None else _x(_ratio(s.start_cpu_s, bare.start_cpu_s)),
            " + ".join(f"{r:.0f}" for r in s.rss_mb),
            "" if bare is None or s.workers > 1 else _x(_ratio(worker_rss, bare.rss_mb[-1])),
            f"{s.pss_mb:.0f}",
            s.memory,
            s.note,
        )
    table.caption = (
        "cold start = Popen to the first 2xx answer to a prediction: the median (the samples); "
        "its CPU = CPU seconds the server's processes had used by then (median; steadier than "
        "wall time on a busy machine); "
        "VmRSS of each process of the server after its load steps (supervisor first); PSS = "
        "proportional set size summed over them (shared pages counted once)"
    )
    table.caption_justify = "left"
    return table


@dataclass
class Check:
    goal: str
    value: float | None
    target: str
    passed: bool | None


def checks(results: Results) -> list[Check]:
    out: list[Check] = []

    def check(goal: str, value: float | None, op: str, target: float) -> None:
        passed = None if value is None else (value <= target if op == "≤" else value >= target)
        out.append(Check(goal, value, f"{op} {target:g}×", passed))

    servers = results.servers
    bare, ship = servers.get(BARE), servers.get(SHIPYARD)
    if bare and ship:
        check("cold start to first answer / bare", _ratio(ship.start_s, bare.start_s), "≤",
              COLD_START_RATIO)  # fmt: skip
        check("VmRSS per worker / bare", _ratio(ship.rss_mb[-1], bare.rss_mb[-1]), "≤", RSS_RATIO)

    def rate(setup: str, model: str, c: int) -> float | None:
        s = results.find(setup, model, c)
        return None if s is None else s.rate

    def p99(setup: str, model: str, c: int) -> float | None:
        s = results.find(setup, model, c)
        return None if s is None else s.p99_ms

    for setup in (SHIPYARD, NO_BATCHING):
        check(f"lr c=1 req/s / bare, {setup}", _ratio(rate(setup, "lr", 1), rate(BARE, "lr", 1)),
              "≥", C1_RATIO)  # fmt: skip
    check(f"lr c=32 req/s / bare, {NO_BATCHING}",
          _ratio(rate(NO_BATCHING, "lr", 32), rate(BARE, "lr", 32)), "≥", C32_RATIO)  # fmt: skip
    for c in (1, 32):
        for setup in (SHIPYARD, NO_BATCHING):
            check(f"lr c={c} p99 / bare, {setup}",
                  _ratio(p99(setup, "lr", c), p99(BARE, "lr", c)), "≤", P99_RATIO)  # fmt: skip
    one, many = servers.get(SHIPYARD), servers.get(f"{SHIPYARD} --workers {WORKERS}")
    if one and many:
        check(f"total PSS, --workers {WORKERS} / one worker", _ratio(many.pss_mb, one.pss_mb),
              "≤", PSS_RATIO)  # fmt: skip
    check("batching at c=1: lr req/s / --no-batching",
          _ratio(rate(SHIPYARD, "lr", 1), rate(NO_BATCHING, "lr", 1)), "≥",
          BATCHING_C1_RATIO)  # fmt: skip
    check("batching at c=32: rf req/s / --no-batching",
          _ratio(rate(SHIPYARD, "rf", 32), rate(NO_BATCHING, "rf", 32)), "≥",
          BATCHING_GAIN)  # fmt: skip
    return out


def render_checks(items: list[Check]) -> Any:
    from rich.table import Table

    table = Table(title="[bold]goals[/] (ratios from this run)", title_justify="left",
                  header_style="bold")  # fmt: skip
    for col in ("goal", "value", "target", ""):
        table.add_column(col, justify="right" if col == "value" else "left")
    for c in items:
        table.add_row(c.goal, _x(c.value), c.target, _verdict(c.passed))
    return table


def render_ceiling(results: Results) -> Any:
    from rich.table import Table

    table = Table(
        title="[bold]load generator ceiling[/] — a bare route that does no work",
        title_justify="left",
        header_style="bold",
    )
    for col in ("client", "c", "req/s", "p50 ms", "p99 ms", "cli CPU", "srv CPU", "other CPU"):
        table.add_column(col, justify="left" if col == "client" else "right")
    for s in results.ceiling:
        table.add_row(s.setup, str(s.concurrency), f"{s.rate:,.0f}", _ms(s.p50_ms), _ms(s.p99_ms),
                      _ms(s.client_cpu), _ms(s.server_cpu), _noise(s.other_cpu))  # fmt: skip
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    summary = __doc__.splitlines()[0] if __doc__ else None
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--duration", type=int, default=5, help="seconds per load step (5)")
    parser.add_argument("--starts", type=int, default=3, help="timed cold starts of each (3)")
    parser.add_argument("--quick", action="store_true", help="2 s steps, 2 timed starts")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the results as JSON to PATH (no PATH or '-': stdout, tables to stderr)",
    )
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (the default when installed), or this script's own",
    )
    parser.add_argument("--with-peers", action="store_true", help="also MLflow and BentoML")
    parser.add_argument("--peers-dir", help="where the peers' venvs are (made on first use)")
    parser.add_argument("--no-grpc", action="store_true", help="leave out gRPC next to HTTP")
    parser.add_argument("--grpc-only", action="store_true", help="only the gRPC / HTTP comparison")
    parser.add_argument("--diagnose", action="store_true", help="where a request's time goes")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 2)
        args.starts = min(args.starts, 2)
    if not 1 <= args.duration <= 60:
        parser.error("--duration must be between 1 and 60 seconds")
    if not 1 <= args.starts <= 10:
        parser.error("--starts must be between 1 and 10")
    args.warmup = 1.0
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
        console = Console(stderr=json_to_stdout, width=170)

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers

    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.perf_counter()
    source_before = source_fingerprint()
    results = Results(load_before=loadavg())
    failure: str | None = None
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-serve-") as tmp:
        try:
            run_benchmark(args, console, Path(tmp), results)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted; every server stopped[/]")
            return 130
        except Exception as exc:  # report what was measured, then the error
            failure = f"{type(exc).__name__}: {exc}"
    results.load_after = loadavg()
    elapsed = time.perf_counter() - started
    source_after = source_fingerprint()
    changed = sorted(
        path
        for path in set(source_before) | set(source_after)
        if source_before.get(path) != source_after.get(path)
    )

    for model in MODELS:
        if any(s.model == model for s in results.steps):
            console.print(render_steps(results, model))
            console.print()
    if results.servers:
        console.print(render_servers(results))
        console.print()
    items = checks(results)
    if not args.grpc_only:
        console.print(render_checks(items))
        console.print()
    if results.protocols:
        console.print(render_protocols(results))
        console.print()
    if results.diagnosis is not None:
        from serve_diagnose import render_diagnosis

        for table in render_diagnosis(results.diagnosis):
            console.print(table)
            console.print()
    if results.ceiling:
        console.print(render_ceiling(results))
        console.print()
    for note in results.notes:
        console.print(note, highlight=False, markup=False)
    noisy = [s for s in results.steps if (s.other_cpu or 0) > NOISY_CPU]
    if noisy:
        console.print(
            f"[yellow]warning:[/] other processes used more than {NOISY_CPU:g} cores during "
            f"{len(noisy)} step(s); those numbers are disturbed — re-run on a quieter machine"
        )
    if changed:
        console.print(
            f"[yellow]note:[/] {len(changed)} file(s) under src/ changed during the run "
            f"(e.g. {', '.join(changed[:3])}); this run used a snapshot of src/ taken at its start"
        )
    if failure:
        console.print(f"[bold red]benchmark failed:[/] {failure}", highlight=False)
    failed = [c for c in items if c.passed is False]
    console.print(
        f"[dim]Python {platform.python_version()}, {os.cpu_count()} CPUs, client {args.client}, "
        f"{args.duration} s per step, {elapsed:.0f} s total; load average {results.load_before} "
        f"at the start, {results.load_after} at the end; {len(failed)} goal(s) missed[/]"
    )

    if args.json is not None:
        payload = {
            "duration_s": args.duration,
            "client": args.client,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "elapsed_s": round(elapsed, 1),
            "load_average": {"start": results.load_before, "end": results.load_after},
            "steps": [asdict(s) for s in results.steps],
            "load_generator_ceiling": [asdict(s) for s in results.ceiling],
            "servers": {k: {**asdict(v), "start_s": v.start_s} for k, v in results.servers.items()},
            "goals": [asdict(c) for c in items],
            "protocols": [asdict(p) for p in results.protocols],
            "notes": results.notes,
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
