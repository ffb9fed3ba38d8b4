"""The built-in flavors, registered through the same hook as any plugin.

Order matters: the first flavor that accepts a model saves it, so framework-specific flavors come
before scikit-learn (xgboost and lightgbm estimators are also scikit-learn estimators) and the
catch-all ``python`` flavor comes last.
"""

from __future__ import annotations

from shipyard.core.plugins import hookimpl
from shipyard.package.flavors.base import Flavor
from shipyard.package.flavors.lightgbm import LightGBMFlavor
from shipyard.package.flavors.onnx import OnnxFlavor
from shipyard.package.flavors.python import PythonFlavor
from shipyard.package.flavors.sklearn import SklearnFlavor
from shipyard.package.flavors.torch import TorchFlavor
from shipyard.package.flavors.xgboost import XGBoostFlavor


@hookimpl
def shipyard_flavors() -> list[Flavor]:
    return [
        XGBoostFlavor(),
        LightGBMFlavor(),
        OnnxFlavor(),
        TorchFlavor(),
        SklearnFlavor(),
        PythonFlavor(),
    ]
