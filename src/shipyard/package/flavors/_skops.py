"""Importing ``skops.io`` without importing torch (and without the ~60 MB it costs each worker).

At import, ``skops.io`` lists scikit-learn's estimators with ``sklearn.utils.all_estimators()``,
which walks the package with ``pkgutil.walk_packages``. The walk *imports every package it recurses
into*, including ``sklearn.externals.array_api_compat.torch``, whose ``__init__`` imports torch
when it is installed, and every ``tests`` package. ``all_estimators`` then ignores all of those
(modules under ``externals``, ``tests``, ... or with a private part), so walking past them gives
the same list. During the import only, sklearn's discovery module sees a ``pkgutil`` whose walk
does not descend into packages whose modules it would ignore anyway; nothing else is touched.

That list is only skops's *default* trust, which Shipyard never relies on: ``load_skops`` names every
type it trusts. A process that only serves (``skip_default_trust``, called by ``shipyard serve``)
imports ``skops.io`` without it at all: no walk, and none of the ~200 scikit-learn modules, the test
helpers (and pytest, when installed) it imports -- about 10 MB and a quarter of the import's time
per worker. There, ``skops.io.load`` called without ``trusted`` trusts fewer types, never more.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

from shipyard.package.flavors.base import require


def _ignored(name: str, ignore: set[str]) -> bool:
    return "._" in name or any(part in ignore for part in name.split("."))


def _walk_skipping(ignore: set[str]) -> Callable[..., Iterator[pkgutil.ModuleInfo]]:
    def walk_packages(
        path: Iterable[str] | None = None,
        prefix: str = "",
        onerror: Callable[[str], object] | None = None,
    ) -> Iterator[pkgutil.ModuleInfo]:
        for info in pkgutil.iter_modules(path, prefix):
            if _ignored(info.name, ignore):
                continue  # neither yielded to, nor imported for, all_estimators
            yield info
            if not info.ispkg:
                continue
            try:
                package = importlib.import_module(info.name)
            except ImportError:
                if onerror is not None:
                    onerror(info.name)
                continue
            yield from walk_packages(
                getattr(package, "__path__", None) or [], info.name + ".", onerror
            )

    return walk_packages


_DEFAULT_TRUST = True


def skip_default_trust() -> None:
    """Import ``skops.io`` in this process without its default list of trusted estimators."""
    global _DEFAULT_TRUST
    _DEFAULT_TRUST = False


def import_skops_io() -> Any:
    """``skops.io``, imported so that torch is not (MissingDependency without the sklearn extra)."""
    loaded = sys.modules.get("skops.io")
    if loaded is not None:
        return loaded
    if not _DEFAULT_TRUST:
        return _import_without_default_trust()
    discovery: ModuleType = require("sklearn.utils.discovery", "sklearn")
    ignore = getattr(discovery, "_MODULE_TO_IGNORE", None)
    original = getattr(discovery, "pkgutil", None)
    if not isinstance(ignore, set) or original is not pkgutil:  # a scikit-learn we do not know
        return require("skops.io", "sklearn")
    shim = SimpleNamespace(
        **{k: getattr(pkgutil, k) for k in dir(pkgutil) if not k.startswith("__")}
    )
    shim.walk_packages = _walk_skipping(ignore)
    discovery.pkgutil = shim  # type: ignore[attr-defined]
    try:
        return require("skops.io", "sklearn")
    finally:
        discovery.pkgutil = original  # type: ignore[attr-defined]


def _import_without_default_trust() -> Any:
    utils: Any = require("sklearn.utils", "sklearn")
    original = utils.all_estimators
    utils.all_estimators = lambda *args, **kwargs: []  # skops binds it when imported
    try:
        return require("skops.io", "sklearn")
    finally:
        utils.all_estimators = original
