"""An MLflow ``python_function`` model kept as it is, behind Shipyard's ``python`` flavor.

The package holds the MLflow folder; loading it runs ``mlflow.pyfunc.load_model``, which unpickles
the model's code: the package is code that needs trust, like any python-flavor package.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

FOLDER = "mlflow_model"


class MlflowPyfunc:
    def __init__(self, folder: Path, model: Any) -> None:
        self.folder = folder
        self.model = model

    @classmethod
    def from_folder(cls, folder: Path) -> MlflowPyfunc:
        from shipyard.package.flavors.base import require

        mlflow = require("mlflow", "mlflow")
        return cls(folder, mlflow.pyfunc.load_model(str(folder)))

    def predict(self, data: Any) -> Any:
        return self.model.predict(data)

    def shipyard_save(self, directory: Path) -> None:
        shutil.copytree(self.folder, directory / FOLDER)

    @classmethod
    def shipyard_load(cls, directory: Path) -> MlflowPyfunc:
        return cls.from_folder(directory / FOLDER)
