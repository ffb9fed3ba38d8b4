"""Garbage collection: what goes, what stays, and registrations running at the same time."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from shipyard.interfaces.cli.main import run
from shipyard.package import bundle
from shipyard.registry.blobs import FsspecBlobStore
from shipyard.registry.gc import GarbageCollector
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.testing import ThresholdModel

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0]})


def package(tmp_path: Path, threshold: float = 0.5) -> Path:
    target = tmp_path / f"pkg-{threshold}"
    bundle.save(ThresholdModel("x", threshold), target, name="m", X_sample=FRAME)
    return target


def blobs_of(root: Path) -> set[str]:
    return {p.name for p in (root / "sha256").rglob("*") if p.is_file() and len(p.name) == 64}


def age(root: Path, seconds: float = 7200) -> None:
    """Make every file under ``root`` look ``seconds`` old."""
    old = time.time() - seconds
    for p in root.rglob("*"):
        os.utime(p, (old, old))


def collector(registry: RegistryService, logs: Path) -> GarbageCollector:
    assert isinstance(registry.blobs, FsspecBlobStore)
    return GarbageCollector(registry, registry.blobs, temp_roots=[str(logs)])


def test_gc_removes_only_what_no_version_references(
    registry: RegistryService, tmp_path: Path
) -> None:
    artifacts = Path(registry.blobs.root)  # type: ignore[attr-defined]
    keep = registry.register(package(tmp_path, 0.5), name="keep")
    drop = registry.register(package(tmp_path, 0.7), name="drop")
    registry.load_version(drop)  # fills the package cache
    shared = blobs_of(artifacts)
    registry.delete_version("drop", drop.version)
    logs = tmp_path / "logs" / "predictions"
    logs.mkdir(parents=True)
    (logs / ".tmp-part-1.parquet").write_bytes(b"torn")
    (artifacts / "sha256" / ".tmp-abc").write_bytes(b"torn")
    gc = collector(registry, tmp_path / "logs")

    assert gc.collect(timedelta(hours=1)).to_dict()["blobs"] == 0  # all too young
    age(artifacts)
    age(tmp_path / "logs")
    age(registry.cache_dir)
    dry = gc.collect(timedelta(hours=1), dry_run=True)
    assert dry.blobs and len(dry.temporary) == 2 and len(dry.cache) == 1
    assert blobs_of(artifacts) == shared  # a dry run removes nothing

    report = gc.collect(timedelta(hours=1))
    assert sorted(report.blobs) == sorted(dry.blobs)
    assert not (logs / ".tmp-part-1.parquet").exists()
    assert not list((artifacts / "sha256").glob(".tmp-*"))
    remaining = blobs_of(artifacts)
    assert len(remaining) == len(shared) - len(report.blobs)
    assert registry.load_version(keep).predict(FRAME) is not None  # still complete
    assert gc.collect(timedelta(hours=1)).blobs == []


def test_a_registration_between_plan_and_delete_keeps_its_blobs(
    registry: RegistryService, tmp_path: Path
) -> None:
    pkg = package(tmp_path)
    old = registry.register(pkg, name="m")
    registry.delete_version("m", old.version)
    age(Path(registry.blobs.root))  # type: ignore[attr-defined]
    gc = collector(registry, tmp_path / "logs")
    plan = gc.plan(timedelta(hours=1))
    assert plan.blobs  # the old package's blobs are garbage now...
    new = registry.register(pkg, name="m2")  # ...until this registration reuses them
    report = gc.execute(plan)
    assert report.blobs == [] and len(report.kept) == len(plan.blobs)
    fresh = RegistryService(
        registry.store, registry.blobs, cache_dir=tmp_path / "cache2", actor="t", allow_code=True
    )
    assert list(fresh.load_version(new).predict(FRAME)) == [0, 1, 1]


def _register_and_load(
    url: str, artifacts: str, pkgs: list[str], cache: str, out: mp.Queue
) -> None:  # type: ignore[type-arg]
    try:
        store = SqlRegistryStore(url)
        blobs = FsspecBlobStore(artifacts)
        for i in range(12):
            registry = RegistryService(
                store, blobs, cache_dir=Path(cache) / str(i), actor="worker", allow_code=True
            )
            v = registry.register(pkgs[i % len(pkgs)], name="new")
            registry.load_version(v).predict(FRAME)  # every blob is fetched from the store
        out.put(("ok", 12))
    except Exception as exc:
        out.put(("error", repr(exc)))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_gc_running_beside_registrations_in_another_process(
    registry: RegistryService, sqlite_url: str, tmp_path: Path
) -> None:
    artifacts = Path(registry.blobs.root)  # type: ignore[attr-defined]
    garbage = [package(tmp_path, t) for t in (0.1, 0.2, 0.3)]
    reused = package(tmp_path, 0.5)  # garbage too, until the worker registers it again
    for pkg in [*garbage, reused]:
        v = registry.register(pkg, name="old")
        registry.delete_version("old", v.version)
    age(artifacts)
    before = blobs_of(artifacts)
    fresh = [package(tmp_path, t) for t in (0.6, 0.7)]
    gc = collector(registry, tmp_path / "logs")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(
        target=_register_and_load,
        args=(
            sqlite_url,
            str(artifacts),
            [str(reused), *map(str, fresh)],
            str(tmp_path / "wcache"),
            out,
        ),
    )
    proc.start()
    removed: set[str] = set()
    try:
        while proc.is_alive():
            removed.update(gc.collect(timedelta(hours=1)).blobs)
        proc.join(60)
    finally:
        if proc.is_alive():
            proc.kill()
    status, detail = out.get(timeout=10)
    assert status == "ok", detail  # every registration loaded, whatever the interleaving
    removed.update(gc.collect(timedelta(hours=1)).blobs)
    assert removed and {k.rsplit("/", 1)[-1] for k in removed} <= before
    check = RegistryService(
        registry.store, registry.blobs, cache_dir=tmp_path / "c3", actor="t", allow_code=True
    )
    for v in check.list_versions("new"):
        assert list(check.load_version(v).predict(FRAME)) == [0, 1, 1]


def test_gc_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"

    def shipyard(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["shipyard", "--home", str(home), *args])
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = shipyard("gc", "--dry-run", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["blobs"] == 0
    code, out, err = shipyard("gc", "--grace", "soon")
    assert code == 2 and "--grace" in err and "'soon'" in err and "Traceback" not in err
    code, out, _ = shipyard("gc")
    assert code == 0 and "unreferenced blobs" in out
