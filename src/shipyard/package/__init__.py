"""Model packages: self-describing, content-addressed folders (``shipyard.yaml`` + artifacts).

Names are loaded on first use: importing ``shipyard.package.manifest`` (as the registry does) does
not import numpy and pandas through the bundle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.package.bundle import load, read_manifest, save, verify
    from shipyard.package.manifest import Manifest
    from shipyard.package.model import Model
    from shipyard.package.signature import ColumnSpec, OutputSpec, Signature, TensorSpec

_EXPORTS = {
    "ColumnSpec": "shipyard.package.signature",
    "Manifest": "shipyard.package.manifest",
    "Model": "shipyard.package.model",
    "OutputSpec": "shipyard.package.signature",
    "Signature": "shipyard.package.signature",
    "TensorSpec": "shipyard.package.signature",
    "load": "shipyard.package.bundle",
    "read_manifest": "shipyard.package.bundle",
    "save": "shipyard.package.bundle",
    "verify": "shipyard.package.bundle",
}

__all__ = [
    "ColumnSpec",
    "Manifest",
    "Model",
    "OutputSpec",
    "Signature",
    "TensorSpec",
    "load",
    "read_manifest",
    "save",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shipyard.package' has no attribute {name!r}")
