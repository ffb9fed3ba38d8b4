"""Shipyard: the operations half of machine learning.

    import shipyard
    version = shipyard.log_model(model, name="churn", X_sample=X)
    model = shipyard.load_model("churn@champion")
    report = shipyard.drift("churn@champion", "today.parquet")

Public names are loaded on first use, so ``import shipyard`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard._version import __version__

if TYPE_CHECKING:
    from shipyard import package
    from shipyard.core.config import Settings
    from shipyard.core.errors import ShipyardError
    from shipyard.core.plugins import hookimpl
    from shipyard.interfaces.sdk import Client, drift, load_model, log_model
    from shipyard.lifecycle.service import RolloutStatus
    from shipyard.monitoring.file_drift import DriftReport
    from shipyard.package.explanation import Explanation
    from shipyard.package.model import Model
    from shipyard.package.signature import Signature
    from shipyard.registry.deployments import Deployment, RolloutRecord
    from shipyard.registry.entities import AliasEvent, ModelVersion, RegisteredModel

_EXPORTS = {
    "Client": "shipyard.interfaces.sdk",
    "log_model": "shipyard.interfaces.sdk",
    "load_model": "shipyard.interfaces.sdk",
    "drift": "shipyard.interfaces.sdk",
    "DriftReport": "shipyard.monitoring.file_drift",
    "Settings": "shipyard.core.config",
    "ShipyardError": "shipyard.core.errors",
    "hookimpl": "shipyard.core.plugins",
    "Explanation": "shipyard.package.explanation",
    "Model": "shipyard.package.model",
    "Signature": "shipyard.package.signature",
    "ModelVersion": "shipyard.registry.entities",
    # what Client methods return
    "AliasEvent": "shipyard.registry.entities",
    "Deployment": "shipyard.registry.deployments",
    "RegisteredModel": "shipyard.registry.entities",
    "RolloutRecord": "shipyard.registry.deployments",
    "RolloutStatus": "shipyard.lifecycle.service",
}

__all__ = [
    "AliasEvent",
    "Client",
    "Deployment",
    "DriftReport",
    "Explanation",
    "Model",
    "ModelVersion",
    "RegisteredModel",
    "RolloutRecord",
    "RolloutStatus",
    "Settings",
    "ShipyardError",
    "Signature",
    "__version__",
    "drift",
    "hookimpl",
    "load_model",
    "log_model",
    "package",
]


def __getattr__(name: str) -> Any:
    if name == "package":
        return importlib.import_module("shipyard.package")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
