"""Content-addressed blob storage on fsspec: a local folder by default, any fsspec URL otherwise.

A blob's key is its SHA-256 (``sha256/ab/abcdef...``), so a blob is immutable once written and the
same file shared by many versions is stored once. Local writes go to a temporary name and are renamed
into place; object stores (S3) publish an object atomically on upload.

Garbage collection (``registry.gc``) removes blobs no version references once they are older than a
grace period. So that it never removes a blob a registration is reusing, ``put_file`` on a local
store *touches* a blob that already exists (its mtime becomes now) instead of skipping it, and
re-writes it when the touch finds it gone; the collector moves a blob aside (``.gc-{hex}``) before
deleting it and puts it back when its mtime shows it was touched meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from shipyard.core.errors import IntegrityError, MissingDependency, NotFound, Unavailable

TMP_PREFIX = ".tmp-"
GC_PREFIX = ".gc-"


@dataclass(frozen=True)
class StoredFile:
    """A file of the store as garbage collection sees it."""

    path: str
    size: int
    mtime: float


class BlobStore(Protocol):
    def put_file(self, path: Path) -> str: ...
    def put_bytes(self, data: bytes) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def exists(self, key: str) -> bool: ...


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def key_for(hexdigest: str) -> str:
    return f"sha256/{hexdigest[:2]}/{hexdigest}"


def _hex_of(key: str) -> str:
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "sha256" or len(parts[2]) != 64:
        raise NotFound(f"malformed blob key {key!r}")
    return parts[2]


class FsspecBlobStore:
    """Blobs under ``url``. The filesystem is opened on first use: a command that only moves an
    alias never imports fsspec."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        self._storage_options = storage_options

    @cached_property
    def _opened(self) -> tuple[Any, str]:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
            raise MissingDependency("fsspec", "s3") from exc
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **self._storage_options)
        except ImportError as exc:
            raise MissingDependency(str(exc.name or "an fsspec backend"), "s3") from exc
        root = root.rstrip("/")
        if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
            Path(root).mkdir(parents=True, exist_ok=True)
        return fs, root

    @property
    def fs(self) -> Any:
        return self._opened[0]

    @property
    def root(self) -> str:
        return self._opened[1]

    @property
    def local(self) -> bool:
        protocol = self.fs.protocol
        return "file" in (protocol if isinstance(protocol, tuple) else (protocol,))

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def exists(self, key: str) -> bool:
        try:
            return bool(self.fs.exists(self._path(key)))
        except OSError as exc:
            raise Unavailable(f"artifact store {self.url} unreachable: {exc}") from exc

    def put_file(self, path: Path) -> str:
        key = key_for(_sha256_file(path))
        target = self._path(key)
        if self.local:
            try:  # reuse: the touch tells a concurrent garbage collection to keep it
                os.utime(target)
                return key
            except FileNotFoundError:
                pass
        elif self.exists(key):
            return key
        if self.local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=Path(target).parent, prefix=TMP_PREFIX)
            try:
                with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                    while block := src.read(1 << 20):
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            self.fs.put_file(str(path), target)
        return key

    def put_bytes(self, data: bytes) -> str:
        with tempfile.NamedTemporaryFile(delete=False) as fh:
            fh.write(data)
        try:
            return self.put_file(Path(fh.name))
        finally:
            os.unlink(fh.name)

    def get_bytes(self, key: str) -> bytes:
        want = _hex_of(key)
        try:
            data: bytes = self.fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key} is missing from the artifact store {self.url}") from exc
        if hashlib.sha256(data).hexdigest() != want:
            raise IntegrityError(f"blob {key} in {self.url} is corrupted (SHA-256 mismatch)")
        return data

    def get_file(self, key: str, dest: Path) -> None:
        want = _hex_of(key)
        try:
            self.fs.get_file(self._path(key), str(dest))
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key} is missing from the artifact store {self.url}") from exc
        if _sha256_file(dest) != want:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"blob {key} in {self.url} is corrupted (SHA-256 mismatch)")

    # -- garbage collection -------------------------------------------------------------------

    def files(self) -> list[StoredFile]:
        """Every file under the store's root (blobs, temporary and quarantined files)."""
        return list_files(self.fs, self.root)

    def key_of(self, path: str) -> str | None:
        """The blob key of a stored path; None for anything else."""
        rel = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
        parts = rel.split("/")
        if len(parts) == 3 and parts[0] == "sha256" and len(parts[2]) == 64:
            return rel
        return None

    def quarantine(self, key: str) -> str | None:
        """Move a blob aside before deleting it (local stores); its new path, None if gone."""
        target = self._path(key)
        if not self.local:
            return target
        aside = f"{os.path.dirname(target)}/{GC_PREFIX}{os.path.basename(target)}"
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return None
        return aside

    def restore(self, aside: str) -> None:
        """Put a quarantined blob back (its content is its name: replacing a rewrite is safe)."""
        if self.local and os.path.basename(aside).startswith(GC_PREFIX):
            target = f"{os.path.dirname(aside)}/{os.path.basename(aside)[len(GC_PREFIX) :]}"
            os.replace(aside, target)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)


def list_files(fs: Any, root: str) -> list[StoredFile]:
    """Files under ``root`` of an fsspec filesystem, with size and modification time."""
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        return []
    out = []
    for path, info in found.items():
        if info.get("type") == "directory":
            continue
        modified = info.get("mtime", info.get("LastModified", info.get("updated")))
        if hasattr(modified, "timestamp"):
            modified = modified.timestamp()
        out.append(
            StoredFile(
                str(path),
                int(info.get("size") or 0),
                float(modified) if modified is not None else time.time(),
            )
        )
    return out
