"""What the caller's environment says about a model: pinned requirements and lineage."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.package.flavors.base import installed_version
from shipyard.package.manifest import Lineage, Requirements

ALWAYS_PINNED = ("numpy", "pandas")


def capture_requirements(distributions: Iterable[str]) -> Requirements:
    names = dict.fromkeys([*distributions, *ALWAYS_PINNED])
    packages = {
        name: installed_version(name)
        for name in names
        if name != "python" and installed_version(name) != "unknown"
    }
    return Requirements(python=".".join(map(str, sys.version_info[:3])), packages=packages)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def capture_lineage(
    sample: object | None,
    *,
    cwd: Path | None = None,
    dataset_name: str | None = None,
    dataset_uri: str | None = None,
    parent: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Lineage:
    """Git commit and dirty flag of ``cwd`` (when it is in a repository) and a digest of the sample."""
    where = cwd or Path.cwd()
    commit = _git(["rev-parse", "HEAD"], where)
    dirty = None
    remote = None
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        dirty = bool(status) if status is not None else None
        remote = _git(["config", "--get", "remote.origin.url"], where) or None
    return Lineage(
        git_commit=commit or None,
        git_dirty=dirty,
        git_repository=remote,
        data_digest=data_digest(sample) if sample is not None else None,
        dataset_name=dataset_name,
        dataset_uri=dataset_uri,
        parent=parent,
        extra=extra or {},
    )


def data_digest(sample: object) -> str:
    """A stable SHA-256 of a DataFrame, array or records (same values, same digest)."""
    h = hashlib.sha256()
    if isinstance(sample, pd.DataFrame):
        h.update(",".join(map(str, sample.columns)).encode())
        h.update(pd.util.hash_pandas_object(sample, index=False).to_numpy().tobytes())
    else:
        try:
            arr = np.ascontiguousarray(np.asarray(sample))
        except (ValueError, TypeError):
            arr = np.asarray(repr(sample))
        if arr.dtype == object:
            h.update(repr(arr.tolist()).encode())
        else:
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()
