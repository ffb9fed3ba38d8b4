"""Garbage collection: blobs no version references, leftovers of crashed writes, stale cache.

``collect(grace, dry_run)`` removes, when older than ``grace``:

* blobs that no version references (a version references its manifest blob and the blob of every
  file the manifest lists);
* temporary files (``.tmp-*``) that a killed write left, in the artifact store and in the other
  roots given (the prediction log), and blobs a killed collection left aside (``.gc-*``; put back
  when a version references them);
* package-cache folders of digests no version has, and interrupted downloads (``.fetch-*``).

Safe against a registration running at the same time: a registration writes its blobs before its
version row, and a blob it writes or reuses has a fresh mtime (``put_file`` touches reused blobs), so
the grace period protects it until the row exists. The collector re-checks after moving a blob
aside: if its mtime shows a touch, or a version now references it, the blob goes back (see
``blobs``). The grace period must exceed the longest registration (default 1 hour).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shipyard.core.errors import ShipyardError
from shipyard.registry.blobs import GC_PREFIX, TMP_PREFIX, FsspecBlobStore, StoredFile, list_files
from shipyard.registry.service import RegistryService

DEFAULT_GRACE = timedelta(hours=1)
_ALL = 1_000_000_000


@dataclass
class GcReport:
    dry_run: bool
    blobs: list[str] = field(default_factory=list)
    blob_bytes: int = 0
    temporary: list[str] = field(default_factory=list)
    cache: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # candidates a concurrent registration reused

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "blobs": len(self.blobs),
            "blob_bytes": self.blob_bytes,
            "temporary_files": len(self.temporary),
            "cache_entries": len(self.cache),
            "kept": len(self.kept),
            "removed": {"blobs": self.blobs, "temporary": self.temporary, "cache": self.cache},
        }


@dataclass(frozen=True)
class GcPlan:
    cutoff: float
    blobs: tuple[StoredFile, ...]
    temporary: tuple[str, ...]
    aside: tuple[StoredFile, ...]
    cache: tuple[Path, ...]


class GarbageCollector:
    def __init__(
        self,
        registry: RegistryService,
        blobs: FsspecBlobStore,
        *,
        temp_roots: Sequence[str] = (),
    ) -> None:
        self.registry = registry
        self.blobs = blobs
        self.temp_roots = tuple(temp_roots)

    def referenced(self) -> tuple[set[str], set[str]]:
        """(blob keys, package digests) of every version in the registry."""
        keys: set[str] = set()
        digests: set[str] = set()
        for model in self.registry.store.list_models(limit=_ALL):
            for version in self.registry.store.list_versions(name=model.name, limit=_ALL):
                digests.add(version.digest)
                keys.add(version.manifest_blob)
                try:
                    manifest = self.registry.manifest(version)
                except ShipyardError:  # a broken version keeps what it has; nothing to add
                    continue
                keys.update(f"sha256/{sha[7:9]}/{sha[7:]}" for sha in manifest.files.values())
        return keys, digests

    def plan(self, grace: timedelta = DEFAULT_GRACE, *, now: float | None = None) -> GcPlan:
        """What a collection would remove now (nothing is touched)."""
        cutoff = (time.time() if now is None else now) - grace.total_seconds()
        files = self.blobs.files()  # listed before the references are read: see the module doc
        keys, digests = self.referenced()
        blobs, aside, temporary = [], [], []
        for f in files:
            name = os.path.basename(f.path)
            if name.startswith(GC_PREFIX):
                aside.append(f)
            elif name.startswith(TMP_PREFIX):
                if f.mtime < cutoff:
                    temporary.append(f.path)
            else:
                key = self.blobs.key_of(f.path)
                if key is not None and key not in keys and f.mtime < cutoff:
                    blobs.append(f)
        for root in self.temp_roots:
            fs, path = _fs(root)
            temporary += [
                f.path
                for f in list_files(fs, path)
                if os.path.basename(f.path).startswith(TMP_PREFIX) and f.mtime < cutoff
            ]
        cache = self._stale_cache({d.replace(":", "-") for d in digests}, cutoff)
        return GcPlan(cutoff, tuple(blobs), tuple(temporary), tuple(aside), tuple(cache))

    def _stale_cache(self, digests: set[str], cutoff: float) -> list[Path]:
        folder = self.registry.cache_dir / "packages"
        if not folder.is_dir():
            return []
        stale = []
        for entry in folder.iterdir():
            try:
                old = entry.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if old and (entry.name.startswith(".fetch-") or entry.name not in digests):
                stale.append(entry)
        return stale

    def execute(self, plan: GcPlan) -> GcReport:
        """Remove what ``plan`` found, re-checking each blob against concurrent registrations."""
        report = GcReport(dry_run=False)
        moved: list[tuple[StoredFile, str]] = []
        for f in plan.blobs:
            key = self.blobs.key_of(f.path)
            assert key is not None
            aside = self.blobs.quarantine(key)
            if aside is not None:
                moved.append((f, aside))
        keys, _ = self.referenced()  # versions created since the plan keep their blobs
        for f, aside in moved:
            key = self.blobs.key_of(f.path)
            touched = _mtime(aside) >= plan.cutoff
            if key in keys or touched:
                self.blobs.restore(aside)
                report.kept.append(str(key))
                continue
            self.blobs.remove(aside)
            report.blobs.append(str(key))
            report.blob_bytes += f.size
        for f in plan.aside:  # left by a killed collection
            original = f.path.replace(f"/{GC_PREFIX}", "/", 1)
            key = self.blobs.key_of(original)
            if key in keys or f.mtime >= plan.cutoff:
                self.blobs.restore(f.path)
            else:
                self.blobs.remove(f.path)
                report.blobs.append(f.path)
        for path in plan.temporary:
            _remove_path(path, self.temp_roots, self.blobs)
            report.temporary.append(path)
        for entry in plan.cache:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            report.cache.append(str(entry))
        return report

    def collect(self, grace: timedelta = DEFAULT_GRACE, *, dry_run: bool = False) -> GcReport:
        plan = self.plan(grace)
        if not dry_run:
            return self.execute(plan)
        return GcReport(
            dry_run=True,
            blobs=[str(self.blobs.key_of(f.path)) for f in plan.blobs],
            blob_bytes=sum(f.size for f in plan.blobs),
            temporary=list(plan.temporary),
            cache=[str(p) for p in plan.cache],
        )


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, str(path).rstrip("/")


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0
    except OSError:
        return time.time()


def _remove_path(path: str, roots: Sequence[str], blobs: FsspecBlobStore) -> None:
    for root in roots:
        fs, base = _fs(root)
        if path.startswith(base + "/"):
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(path)
            return
    blobs.remove(path)


__all__ = ["DEFAULT_GRACE", "GarbageCollector", "GcPlan", "GcReport"]
