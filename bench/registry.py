"""Registry benchmark: latency of the hot ``RegistryService`` paths on SQLite and PostgreSQL.

What is measured, per backend (all timings with ``time.perf_counter_ns``, reported in milliseconds):

1. **register** -- ``RegistryService.register(folder, name="bench")`` of one already-saved package
   (a scikit-learn ``LogisticRegression`` on the breast-cancer data, saved once with
   ``shipyard.package.save``), repeated ``--versions`` times. This also builds the versions that the
   later steps run against. Every call re-verifies the folder, hashes its files (the blobs already
   exist, so nothing is copied after the first call) and inserts one version row.
2. **resolve** -- with ``champion`` pointing to the middle version: ``resolve("bench@champion")``
   (p50/p95/p99 over 2000 calls), ``resolve("bench/<n>")`` and ``resolve("bench@latest")``.
3. **alias move** -- ``set_alias("bench", "champion", v)`` over 200 moves to random versions.
4. **load** -- ``load("bench@champion")`` cold (cache folder deleted before each call: fetch the blobs,
   verify every digest, load with skops) and warm (cached folder, still verified), against two
   baselines timed in the same run: ``skops.io.load`` of the same ``model.skops`` file and
   ``pickle.loads`` of the pickled model (pickle is not used by Shipyard; it is the floor).

A *diagnostics* block breaks ``resolve`` down into the store calls it makes (``get_alias``,
``get_version``), the cost of one empty read transaction, and the SQL statements / pool checkouts
per call, so a missed target can be traced to the code responsible.

Targets: ``resolve("bench@champion")`` p95 <= 2 ms on SQLite and <= 10 ms on PostgreSQL.

SQLite runs in a fresh temporary directory. PostgreSQL uses ``SHIPYARD_BENCH_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each run creates a schema
``bench_<random>``, points the store at it with ``?options=-csearch_path%3D<schema>`` and drops it
at the end. An unreachable server is reported and the backend skipped.

Run from the repository root::

    PYTHONPATH=src python bench/registry.py                      # both backends, 1000 versions
    PYTHONPATH=src python bench/registry.py --backend sqlite --quick    # 200 versions
    PYTHONPATH=src python bench/registry.py --json results.json  # also write JSON (``-``: stdout)
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import platform
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from shipyard.package import bundle
from shipyard.registry.blobs import FsspecBlobStore
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import SqlRegistryStore

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_URL_ENV = "SHIPYARD_BENCH_POSTGRES_URL"
MODEL = "bench"
ALIAS = "champion"

RESOLVE_CALLS = 2000
RESOLVE_OTHER_CALLS = 500
ALIAS_MOVES = 200
LOAD_RUNS = 20
BASELINE_RUNS = 50
DIAGNOSTIC_CALLS = 500
WARMUP = 20

# resolve("bench@champion") p95 targets, in milliseconds
RESOLVE_P95_TARGET_MS = {"sqlite": 2.0, "postgres": 10.0}


# -- statistics ----------------------------------------------------------------------------------------


def percentile(ordered: list[int], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted samples, linearly interpolated (numpy's default)."""
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Target:
    stat: str
    limit_ms: float

    def __str__(self) -> str:
        return f"{self.stat} ≤ {self.limit_ms:g} ms"


@dataclass
class Measurement:
    group: str
    label: str
    samples_ns: list[int]
    target: Target | None = None

    def stats_ms(self) -> dict[str, float]:
        ordered = sorted(self.samples_ns)
        ms = 1e6
        return {
            "p50": percentile(ordered, 0.50) / ms,
            "p95": percentile(ordered, 0.95) / ms,
            "p99": percentile(ordered, 0.99) / ms,
            "mean": sum(ordered) / len(ordered) / ms,
            "max": ordered[-1] / ms,
        }

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        return self.stats_ms()[self.target.stat] <= self.target.limit_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "label": self.label,
            "n": len(self.samples_ns),
            **{f"{k}_ms": round(v, 4) for k, v in self.stats_ms().items()},
            "target": str(self.target) if self.target else None,
            "passed": self.passed,
        }


@dataclass
class BackendResult:
    backend: str
    server: str = ""
    skipped: str | None = None
    measurements: list[Measurement] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "server": self.server,
            "skipped": self.skipped,
            "measurements": [m.to_json() for m in self.measurements],
            "per_call_counts": self.counts,
        }


# -- timing --------------------------------------------------------------------------------------------


class Runner:
    """Times callables, showing a progress bar per series.

    The bar is redrawn by the timing loop itself, between samples (never inside a timed window), so
    no background refresh thread competes with the code being measured.
    """

    REFRESH_NS = 100_000_000

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def time(
        self,
        description: str,
        fn: Callable[[], object],
        n: int,
        *,
        warmup: int = WARMUP,
        before: Callable[[], None] | None = None,
    ) -> list[int]:
        """Call ``fn`` ``n`` times (after ``warmup`` untimed calls); ``before`` runs untimed."""
        task: TaskID = self.progress.add_task(description, total=n)
        self.progress.refresh()
        for _ in range(warmup):
            if before is not None:
                before()
            fn()
        gc.collect()
        samples: list[int] = []
        clock = time.perf_counter_ns
        drawn = clock()
        for i in range(n):
            if before is not None:
                before()
            start = clock()
            fn()
            end = clock()
            samples.append(end - start)
            if end - drawn > self.REFRESH_NS:
                self.progress.update(task, completed=i + 1, refresh=True)
                drawn = clock()
        self.progress.remove_task(task)
        return samples


@contextmanager
def count_calls(engine: Engine) -> Iterator[dict[str, int]]:
    """Count SQL statements sent and connections checked out of the pool while the block runs."""
    counts = {"statements": 0, "checkouts": 0}

    def on_execute(*_: Any) -> None:
        counts["statements"] += 1

    def on_checkout(*_: Any) -> None:
        counts["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "checkout", on_checkout)


# -- fixtures: the package and the backends ------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    package: Path
    model_file: Path
    pickled: bytes


def build_package(root: Path) -> Fixture:
    """Fit a LogisticRegression on breast-cancer and save it once as a package folder."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter on unscaled features
        model = LogisticRegression(max_iter=5000).fit(X, y)
    package = root / "package"
    manifest = bundle.save(model, package, name=MODEL, X_sample=X, y_sample=y)
    (model_file,) = manifest.flavor.files
    return Fixture(package, package / model_file, pickle.dumps(model, pickle.HIGHEST_PROTOCOL))


@dataclass
class Backend:
    name: str
    url: str
    server: str


class BackendUnavailable(Exception):
    pass


@contextmanager
def sqlite_backend(root: Path) -> Iterator[Backend]:
    url = f"sqlite:///{root / 'registry.db'}"
    yield Backend("sqlite", url, f"SQLite {sqlite3.sqlite_version}")


@contextmanager
def postgres_backend(base_url: str) -> Iterator[Backend]:
    """A fresh ``bench_<random>`` schema on the server, dropped afterwards."""
    schema = f"bench_{secrets.token_hex(6)}"
    try:
        admin = create_engine(
            base_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as conn:
            server = str(conn.execute(text("SHOW server_version")).scalar_one())
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # driver missing, server down, auth refused
        raise BackendUnavailable(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield Backend("postgres", url.render_as_string(hide_password=False), f"PostgreSQL {server}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# -- the benchmark -------------------------------------------------------------------------------------


def bench_backend(
    backend: Backend, fixture: Fixture, work: Path, versions: int, runner: Runner
) -> BackendResult:
    result = BackendResult(backend.name, backend.server)
    add = result.measurements.append
    store = SqlRegistryStore(backend.url)
    cache_dir = work / "cache"
    service = RegistryService(
        store, FsspecBlobStore(str(work / "artifacts")), cache_dir=cache_dir, actor="bench"
    )
    try:
        # 1. register: builds the versions the other steps use
        samples = runner.time(
            f"[{backend.name}] register",
            lambda: service.register(fixture.package, name=MODEL),
            versions,
            warmup=0,
        )
        add(Measurement("register", f"register(folder) ×{versions}", samples))

        # 2. resolve
        champion = versions // 2 or 1
        pinned = min(500, versions)
        service.set_alias(MODEL, ALIAS, champion)
        resolve_target = Target("p95", RESOLVE_P95_TARGET_MS[backend.name])
        for ref, calls, target in (
            (f"{MODEL}@{ALIAS}", RESOLVE_CALLS, resolve_target),
            (f"{MODEL}/{pinned}", RESOLVE_OTHER_CALLS, None),
            (f"{MODEL}@latest", RESOLVE_OTHER_CALLS, None),
        ):
            samples = runner.time(
                f"[{backend.name}] resolve {ref}", lambda r=ref: service.resolve(r), calls
            )
            add(Measurement("resolve", f'resolve("{ref}")', samples, target))

        # 3. alias moves (to random versions, never the same one twice in a row)
        rng = random.Random(42)
        moves = [rng.randrange(1, versions + 1) for _ in range(ALIAS_MOVES + WARMUP)]
        moves_iter = iter(moves)
        samples = runner.time(
            f"[{backend.name}] set_alias",
            lambda: service.set_alias(MODEL, ALIAS, next(moves_iter)),
            ALIAS_MOVES,
        )
        add(Measurement("alias", f"set_alias(@{ALIAS}) ×{ALIAS_MOVES}", samples))
        service.set_alias(MODEL, ALIAS, champion)

        # 4. load: cold (empty cache), warm (cached, verified), plain baselines
        ref = f"{MODEL}@{ALIAS}"
        samples = runner.time(
            f"[{backend.name}] load cold",
            lambda: service.load(ref),
            LOAD_RUNS,
            warmup=2,
            before=lambda: shutil.rmtree(cache_dir, ignore_errors=True),
        )
        add(Measurement("load", f'load("{ref}") cold', samples))
        samples = runner.time(
            f"[{backend.name}] load warm", lambda: service.load(ref), LOAD_RUNS, warmup=2
        )
        add(Measurement("load", f'load("{ref}") warm', samples))
        add_load_baselines(result, fixture, service, runner)

        # diagnostics: where resolve("name@alias") spends its time
        add_resolve_diagnostics(result, store, champion, runner)
    finally:
        store.close()
    return result


def add_load_baselines(
    result: BackendResult, fixture: Fixture, service: RegistryService, runner: Runner
) -> None:
    import skops.io as sio

    name = result.backend
    trusted = list(sio.get_untrusted_types(file=fixture.model_file))
    cached = service.fetch(service.resolve(f"{MODEL}@{ALIAS}"))
    for label, fn in (
        (
            "baseline: skops.io.load(model.skops)",
            lambda: sio.load(fixture.model_file, trusted=trusted),
        ),
        ("baseline: pickle.loads(model)", lambda: pickle.loads(fixture.pickled)),
        (
            "part: skops get_untrusted_types",
            lambda: sio.get_untrusted_types(file=fixture.model_file),
        ),
        ("part: bundle.verify(cached folder)", lambda: bundle.verify(cached)),
    ):
        samples = runner.time(f"[{name}] {label}", fn, BASELINE_RUNS, warmup=3)
        add_to = "load" if label.startswith("baseline") else "load breakdown"
        result.measurements.append(Measurement(add_to, label, samples))


def add_resolve_diagnostics(
    result: BackendResult, store: SqlRegistryStore, champion: int, runner: Runner
) -> None:
    name = result.backend

    def empty_read() -> None:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT 1"))

    for label, fn in (
        (f"store.get_alias({MODEL!r}, {ALIAS!r})", lambda: store.get_alias(MODEL, ALIAS)),
        (f"store.get_version({MODEL!r}, {champion})", lambda: store.get_version(MODEL, champion)),
        ("empty read txn (checkout+SELECT 1)", empty_read),
    ):
        samples = runner.time(f"[{name}] {label}", fn, DIAGNOSTIC_CALLS)
        result.measurements.append(Measurement("resolve breakdown", label, samples))

    calls = 100
    for key, fn in (
        ("resolve@alias", lambda: store.get_version(MODEL, store.get_alias(MODEL, ALIAS).version)),
        ("get_alias", lambda: store.get_alias(MODEL, ALIAS)),
        ("get_version", lambda: store.get_version(MODEL, champion)),
    ):
        with count_calls(store.engine) as counts:
            for _ in range(calls):
                fn()
        result.counts[f"{key}.statements"] = counts["statements"] / calls
        result.counts[f"{key}.checkouts"] = counts["checkouts"] / calls


# -- output --------------------------------------------------------------------------------------------


def render(result: BackendResult, versions: int) -> Table:
    table = Table(
        title=f"{result.backend}: {result.server}, {versions} versions",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("group", style="dim")
    table.add_column("measurement")
    table.add_column("n", justify="right")
    for stat in ("p50", "p95", "p99", "mean"):
        table.add_column(f"{stat} ms", justify="right")
    table.add_column("target")
    table.add_column("", justify="center")
    previous = ""
    for m in result.measurements:
        if m.group != previous and previous:
            table.add_section()
        s = m.stats_ms()
        verdict = {None: "", True: "[green]PASS[/]", False: "[bold red]FAIL[/]"}[m.passed]
        table.add_row(
            m.group if m.group != previous else "",
            m.label,
            str(len(m.samples_ns)),
            *(f"{s[k]:.3f}" for k in ("p50", "p95", "p99", "mean")),
            str(m.target) if m.target else "",
            verdict,
        )
        previous = m.group
    if result.counts:
        c = result.counts
        table.caption = (
            "per call: resolve@alias = "
            f"{c['resolve@alias.statements']:g} SQL statements over "
            f"{c['resolve@alias.checkouts']:g} pool checkouts "
            f"(get_alias {c['get_alias.statements']:g}/{c['get_alias.checkouts']:g}, "
            f"get_version {c['get_version.statements']:g}/{c['get_version.checkouts']:g})"
        )
        table.caption_justify = "left"
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--versions", type=int, default=1000, help="versions to register (1000)")
    parser.add_argument("--quick", action="store_true", help="register 200 versions")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the results as JSON to PATH (default/-: stdout; tables go to stderr)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.versions = 200
    if args.versions < 1:
        parser.error("--versions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=args.json == "-")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[BackendResult] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        root = Path(tmp)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        with progress:
            runner = Runner(progress)
            console.log("saving the benchmark package (LogisticRegression, breast-cancer)")
            fixture = build_package(root / "fixture")
            for name in backends:
                work = root / name
                work.mkdir()
                try:
                    context = (
                        sqlite_backend(work)
                        if name == "sqlite"
                        else postgres_backend(
                            os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
                        )
                    )
                    with context as backend:
                        console.log(f"{name}: {backend.server}")
                        results.append(bench_backend(backend, fixture, work, args.versions, runner))
                except BackendUnavailable as exc:
                    console.print(f"[yellow]note:[/] PostgreSQL unreachable, skipped ({exc})")
                    results.append(BackendResult(name, skipped=str(exc)))
    elapsed = time.perf_counter() - started

    for result in results:
        if result.skipped is None:
            console.print(render(result, args.versions))
            console.print()
    failed = [
        f"{r.backend}: {m.label} {m.target}"
        for r in results
        for m in r.measurements
        if m.passed is False
    ]
    env = f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {elapsed:.0f} s total"
    console.print(f"[dim]{env}[/]")
    for line in failed:
        console.print(f"[bold red]FAIL[/] {line}")

    if args.json is not None:
        payload = {
            "versions": args.versions,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "elapsed_s": round(elapsed, 1),
            "results": [r.to_json() for r in results],
        }
        text_out = json.dumps(payload, indent=2)
        if args.json == "-":
            sys.stdout.write(text_out + "\n")
        else:
            Path(args.json).write_text(text_out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
