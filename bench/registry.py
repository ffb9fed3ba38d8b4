"""Registry benchmark: latency of the hot ``RegistryService`` paths on SQLite and PostgreSQL.

What is measured, per backend (``time.perf_counter_ns``, reported in milliseconds):

1. **register** -- ``RegistryService.register(folder, name="bench")`` of one already-saved package
   (a scikit-learn ``LogisticRegression`` fitted on the breast-cancer data and saved once with
   ``shipyard.package.save``), repeated ``--versions`` times. This also builds the versions the
   later steps run against. Each call re-verifies the folder, hashes its files (the blobs already
   exist after the first call, so nothing is copied) and inserts one version.
2. **resolve** -- with ``@champion`` on the middle version: ``resolve("bench@champion")`` over 2000
   calls, ``resolve("bench/500")`` (or the last version, if fewer) and ``resolve("bench@latest")``
   over 500 calls each.
3. **alias move** -- ``set_alias("bench", "champion", v)`` over 200 moves to random versions.
4. **load** -- ``load("bench@champion")`` cold (cache folder deleted before each call: fetch the
   blobs, verify every digest, load with skops) and warm (cached folder, still verified), 20 runs
   each, next to two baselines timed in the same run: ``skops.io.load`` of the same ``model.skops``
   and ``pickle.loads`` of the pickled model (pickle is not used by Shipyard; it is the floor).

Two breakdown blocks time the pieces those calls are made of (``bundle.verify``, the YAML parse of
the manifest, skops' type scan; ``store.get_alias``, ``store.get_version``, an empty read
transaction), and the notes under each table count SQL statements, pool checkouts and manifest
parses per call, so a missed target can be traced to the code responsible.

Targets: ``resolve("bench@champion")`` p95 <= 2 ms on SQLite, <= 10 ms on PostgreSQL.

SQLite runs in a fresh temporary directory. PostgreSQL uses ``SHIPYARD_BENCH_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``): each run creates a schema
``bench_<random>``, points the store at it with ``?options=-csearch_path%3D<schema>`` and drops it
at the end. If the server is unreachable the backend is skipped with a note.

Run from the repository root (about a minute for both backends with the defaults)::

    PYTHONPATH=src python bench/registry.py                       # both backends, 1000 versions
    PYTHONPATH=src python bench/registry.py --backend sqlite --quick      # 200 versions
    PYTHONPATH=src python bench/registry.py --json results.json   # also write JSON (- for stdout)

Latencies on a shared or busy machine have long tails: compare p50s across runs, and re-run
before trusting a single p95/p99.
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
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
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
from shipyard.package.manifest import MANIFEST_FILE
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
PART_RUNS = 50
DIAGNOSTIC_CALLS = 500
COUNTED_CALLS = 50
WARMUP = 20

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
        return {
            "p50": percentile(ordered, 0.50) / 1e6,
            "p95": percentile(ordered, 0.95) / 1e6,
            "p99": percentile(ordered, 0.99) / 1e6,
            "mean": sum(ordered) / len(ordered) / 1e6,
            "max": ordered[-1] / 1e6,
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
    """Per-call counts: SQL statements, pool checkouts, manifest YAML parses."""

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "server": self.server,
            "skipped": self.skipped,
            "measurements": [m.to_json() for m in self.measurements],
            "per_call_counts": self.counts,
        }


# -- timing and counting -------------------------------------------------------------------------------


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
        before: Callable[[], object] | None = None,
    ) -> list[int]:
        """Call ``fn`` ``n`` times after ``warmup`` untimed calls; ``before`` runs untimed each time."""
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


def count_sql(engine: Engine, fn: Callable[[], object], calls: int) -> dict[str, float]:
    """Average SELECTs, other statements and pool checkouts per call of ``fn``."""
    counts = {"selects": 0, "other_statements": 0, "checkouts": 0}

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        select = statement.lstrip().upper().startswith("SELECT")
        counts["selects" if select else "other_statements"] += 1

    def on_checkout(*_: Any) -> None:
        counts["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        for _ in range(calls):
            fn()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "checkout", on_checkout)
    return {k: v / calls for k, v in counts.items()}


def count_yaml_parses(fn: Callable[[], object]) -> int:
    """How many times ``fn`` parses YAML with ``yaml.load`` (what ``Manifest.from_yaml`` uses)."""
    with mock.patch.object(yaml, "load", wraps=yaml.load) as spy:
        fn()
    return spy.call_count


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


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    server: str
    note: str = ""


class BackendUnavailable(Exception):
    pass


@contextmanager
def sqlite_backend(root: Path) -> Iterator[Backend]:
    yield Backend("sqlite", f"sqlite:///{root / 'registry.db'}", f"SQLite {sqlite3.sqlite_version}")


@contextmanager
def postgres_backend(base_url: str) -> Iterator[Backend]:
    """A fresh ``bench_<random>`` schema on the server, dropped afterwards."""
    schema = f"bench_{secrets.token_hex(6)}"
    try:
        admin = create_engine(
            base_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
    except Exception as exc:  # no driver installed
        raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc
    try:
        with admin.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # server down, authentication refused, no CREATE privilege
        admin.dispose()
        raise BackendUnavailable(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    host = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    try:
        yield Backend(
            "postgres",
            url.render_as_string(hide_password=False),
            f"PostgreSQL {str(version).split()[0]} at {host}",
            f"schema {schema}, dropped at the end",
        )
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
    tag = f"[{backend.name}]"
    store = SqlRegistryStore(backend.url)
    cache_dir = work / "cache"
    service = RegistryService(
        store, FsspecBlobStore(str(work / "artifacts")), cache_dir=cache_dir, actor="bench"
    )
    try:
        # 1. register: also builds the versions the other steps use
        samples = runner.time(
            f"{tag} register ×{versions}",
            lambda: service.register(fixture.package, name=MODEL),
            versions,
            warmup=0,
        )
        add(Measurement("register", "register(folder)", samples))

        # 2. resolve
        champion = max(1, versions // 2)
        pinned = min(500, versions)
        service.set_alias(MODEL, ALIAS, champion)
        target = Target("p95", RESOLVE_P95_TARGET_MS[backend.name])
        for ref, calls, ref_target in (
            (f"{MODEL}@{ALIAS}", RESOLVE_CALLS, target),
            (f"{MODEL}/{pinned}", RESOLVE_OTHER_CALLS, None),
            (f"{MODEL}@latest", RESOLVE_OTHER_CALLS, None),
        ):
            samples = runner.time(f"{tag} resolve {ref}", partial(service.resolve, ref), calls)
            add(Measurement("resolve", f'resolve("{ref}")', samples, ref_target))

        # 3. alias moves to random versions
        rng = random.Random(42)
        samples = runner.time(
            f"{tag} set_alias",
            lambda: service.set_alias(MODEL, ALIAS, rng.randint(1, versions)),
            ALIAS_MOVES,
        )
        add(Measurement("alias move", f'set_alias("{MODEL}", "{ALIAS}", v)', samples))
        service.set_alias(MODEL, ALIAS, champion)

        # 4. load: cold (empty cache), warm (cached folder, verified again), plain baselines
        ref = f"{MODEL}@{ALIAS}"

        def clear_cache() -> None:
            shutil.rmtree(cache_dir, ignore_errors=True)

        def load() -> object:
            return service.load(ref)

        samples = runner.time(f"{tag} load cold", load, LOAD_RUNS, warmup=2, before=clear_cache)
        add(Measurement("load", f'load("{ref}") cold', samples))
        samples = runner.time(f"{tag} load warm", load, LOAD_RUNS, warmup=2)
        add(Measurement("load", f'load("{ref}") warm', samples))
        time_load_parts(result, fixture, runner)

        time_resolve_parts(result, store, champion, runner)

        # per-call counts (after all timings: register here adds one more version)
        c = result.counts
        for key, fn in (
            ("resolve@alias", lambda: service.resolve(ref)),
            ("store.get_alias", lambda: store.get_alias(MODEL, ALIAS)),
            ("store.get_version", lambda: store.get_version(MODEL, champion)),
        ):
            for what, value in count_sql(store.engine, fn, COUNTED_CALLS).items():
                c[f"{key}.{what}"] = value
        c["load_warm.manifest_parses"] = count_yaml_parses(load)
        clear_cache()
        c["load_cold.manifest_parses"] = count_yaml_parses(load)
        c["register.manifest_parses"] = count_yaml_parses(
            lambda: service.register(fixture.package, name=MODEL)
        )
    finally:
        store.close()
    return result


def time_load_parts(result: BackendResult, fixture: Fixture, runner: Runner) -> None:
    """Plain-load baselines, and the pieces ``register``/``load`` spend their time in."""
    import skops.io as sio

    model_file = fixture.model_file
    trusted = list(sio.get_untrusted_types(file=model_file))
    manifest_text = (fixture.package / MANIFEST_FILE).read_text()
    parts = "load/register parts"
    series: list[tuple[str, str, Callable[[], object]]] = [
        (
            "load",
            "baseline: skops.io.load(model.skops)",
            lambda: sio.load(model_file, trusted=trusted),
        ),
        ("load", "baseline: pickle.loads(model)", lambda: pickle.loads(fixture.pickled)),
        (parts, "bundle.verify(package)", lambda: bundle.verify(fixture.package)),
        (parts, "skops.io.get_untrusted_types", lambda: sio.get_untrusted_types(file=model_file)),
        (
            parts,
            f"pure-Python yaml.safe_load({MANIFEST_FILE})*",
            lambda: yaml.safe_load(manifest_text),
        ),
    ]
    if yaml.__with_libyaml__:
        csafe = f"yaml.load({MANIFEST_FILE}, CSafeLoader)"
        series.append((parts, csafe, lambda: yaml.load(manifest_text, Loader=yaml.CSafeLoader)))
    for group, label, fn in series:
        samples = runner.time(f"[{result.backend}] {label}", fn, PART_RUNS, warmup=3)
        result.measurements.append(Measurement(group, label, samples))


def time_resolve_parts(
    result: BackendResult, store: SqlRegistryStore, champion: int, runner: Runner
) -> None:
    """The store calls behind ``resolve("name@alias")`` and the cost of one empty transaction."""

    def empty_read() -> None:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT 1"))

    for label, fn in (
        (f'store.get_alias("{MODEL}", "{ALIAS}")', lambda: store.get_alias(MODEL, ALIAS)),
        (f'store.get_version("{MODEL}", {champion})', lambda: store.get_version(MODEL, champion)),
        ("empty read transaction (SELECT 1)", empty_read),
    ):
        samples = runner.time(f"[{result.backend}] {label}", fn, DIAGNOSTIC_CALLS)
        result.measurements.append(Measurement("resolve parts", label, samples))


# -- output --------------------------------------------------------------------------------------------


def render(result: BackendResult, versions: int) -> Table:
    table = Table(
        title=f"[bold]{result.backend}[/] — {result.server} — {versions} versions",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("measurement")
    table.add_column("n", justify="right")
    for stat in ("p50", "p95", "p99", "mean"):
        table.add_column(f"{stat} ms", justify="right")
    table.add_column("target")
    table.add_column("", justify="center")
    group = ""
    for m in result.measurements:
        if m.group != group:
            if group:
                table.add_section()
            group = m.group
            table.add_row(f"[bold cyan]{group}[/]")
        s = m.stats_ms()
        verdict = {None: "", True: "[green]PASS[/]", False: "[bold red]FAIL[/]"}[m.passed]
        table.add_row(
            f"  {m.label}",
            str(len(m.samples_ns)),
            *(f"{s[k]:.3f}" for k in ("p50", "p95", "p99", "mean")),
            str(m.target) if m.target else "",
            verdict,
        )
    c = result.counts
    if c:

        def sql(key: str) -> str:
            other = c[f"{key}.other_statements"]
            begins = f" + {other:g} BEGIN" if other else ""
            return f"{c[f'{key}.checkouts']:g} txn, {c[f'{key}.selects']:g} SELECT{begins}"

        table.caption = (
            f"per call: resolve@alias = {sql('resolve@alias')} "
            f"(get_alias {sql('store.get_alias')}; get_version {sql('store.get_version')}); "
            "txn = pool checkout + transaction\n"
            f"manifest YAML parses per call: register {c['register.manifest_parses']:g}, "
            f"warm load {c['load_warm.manifest_parses']:g}, "
            f"cold load {c['load_cold.manifest_parses']:g}\n"
            "* Shipyard parses manifests with libyaml's CSafeLoader; the pure-Python loader is shown for comparison"
        )
        table.caption_justify = "left"
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    summary = __doc__.splitlines()[0] if __doc__ else None
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--versions", type=int, default=1000, help="versions to register (1000)")
    parser.add_argument("--quick", action="store_true", help="register 200 versions")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the results as JSON to PATH (no PATH or '-': stdout, tables to stderr)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.versions = 200
    if args.versions < 1:
        parser.error("--versions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    json_to_stdout = args.json == "-"
    console = Console(stderr=json_to_stdout)
    if not console.is_terminal:
        console = Console(stderr=json_to_stdout, width=130)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    postgres_url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    results: list[BackendResult] = []
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        auto_refresh=False,
        transient=True,
    )
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp, progress:
        root = Path(tmp)
        runner = Runner(progress)
        console.print("[dim]saving the benchmark package (LogisticRegression, breast-cancer)[/]")
        fixture = build_package(root / "fixture")
        for name in backends:
            work = root / name
            work.mkdir()
            context = sqlite_backend(work) if name == "sqlite" else postgres_backend(postgres_url)
            try:
                with context as backend:
                    console.print(f"[dim]{name}: {backend.server} {backend.note}[/]")
                    results.append(bench_backend(backend, fixture, work, args.versions, runner))
            except BackendUnavailable as exc:
                console.print(f"[yellow]note:[/] PostgreSQL unreachable, skipping it ({exc})")
                results.append(BackendResult(name, skipped=str(exc)))
    elapsed = time.perf_counter() - started

    for result in results:
        if result.skipped is None:
            console.print(render(result, args.versions))
            console.print()
    for result in results:
        for m in result.measurements:
            if m.target is not None:
                verdict = "[green]PASS[/]" if m.passed else "[bold red]FAIL[/]"
                value = m.stats_ms()[m.target.stat]
                console.print(
                    f"{verdict} {result.backend}: {m.label} "
                    f"{m.target.stat} = {value:.3f} ms (target {m.target})"
                )
    console.print(
        f"[dim]Python {platform.python_version()}, {os.cpu_count()} CPUs, {elapsed:.0f} s total[/]"
    )

    if args.json is not None:
        payload = {
            "versions": args.versions,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "elapsed_s": round(elapsed, 1),
            "results": [r.to_json() for r in results],
        }
        rendered = json.dumps(payload, indent=2) + "\n"
        if json_to_stdout:
            sys.stdout.write(rendered)
        else:
            Path(args.json).write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
