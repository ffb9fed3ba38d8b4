"""Plain Python models: any object with ``predict``, saved with the source file of its class.

The state of the object is saved without pickle: either the class implements
``shipyard_save(self, directory)`` and a classmethod ``shipyard_load(cls, directory)``, or its
attributes are JSON values and numpy arrays (stored in ``state.json`` and ``state.npz``).
Loading a python package runs its module source, which is part of the package and digest-checked.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import PackageError
from shipyard.package.flavors.base import ModelInput, Predictor, SavedModel


class PythonPredictor:
    def __init__(self, model: Any) -> None:
        self.model = model
        classes = getattr(model, "classes_", None)
        self.classes: tuple[Any, ...] | None = (
            tuple(v.item() if isinstance(v, np.generic) else v for v in classes)
            if classes is not None and hasattr(model, "predict_proba")
            else None
        )

    def predict(self, data: ModelInput) -> npt.NDArray[Any]:
        return np.asarray(self.model.predict(data))

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        if not hasattr(self.model, "predict_proba"):
            return None
        return np.asarray(self.model.predict_proba(data))


class PythonFlavor:
    name = "python"
    runs_code = True
    """Loading imports the package's own module: only after an explicit decision to trust it."""

    def accepts(self, model: object) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        cls = type(model)
        module = sys.modules.get(cls.__module__)
        source = inspect.getsourcefile(module) if module is not None else None
        if cls.__module__ == "__main__" or source is None:
            raise PackageError(
                f"class {cls.__qualname__} is defined in {cls.__module__}; the python flavor saves "
                "the module that defines the class, so define it in a module file (not __main__)"
            )
        code = directory / "code"
        code.mkdir()
        module_file = f"{cls.__module__.rsplit('.', 1)[-1]}.py"
        shutil.copyfile(source, code / module_file)
        files = [f"code/{module_file}"]
        state_dir = directory / "state"
        state_dir.mkdir()
        if hasattr(model, "shipyard_save") and hasattr(cls, "shipyard_load"):
            model.shipyard_save(state_dir)
            state_format = "custom"
        else:
            state_format = "attributes"
            _save_attributes(model, state_dir)
        files += sorted(str(p.relative_to(directory)) for p in state_dir.rglob("*") if p.is_file())
        return SavedModel(
            files=tuple(files),
            framework="python",
            framework_version=".".join(map(str, sys.version_info[:3])),
            serialization=f"python-{state_format}",
            options={"module_file": module_file, "class_name": cls.__qualname__},
        )

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        module_file = str(saved.options["module_file"])
        path = directory / "code" / module_file
        name = f"shipyard_model_code.{path.stem}_{abs(hash(str(directory))):x}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise PackageError(f"cannot import model code {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(directory / "code"))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise PackageError(f"model code {module_file} failed to import: {exc!r}") from exc
        finally:
            sys.path.remove(str(directory / "code"))
        cls: Any = module
        for part in str(saved.options["class_name"]).split("."):
            cls = getattr(cls, part)
        state_dir = directory / "state"
        if saved.serialization == "python-custom":
            return PythonPredictor(cls.shipyard_load(state_dir))
        model = cls.__new__(cls)
        model.__dict__.update(_load_attributes(state_dir))
        return PythonPredictor(model)


def _save_attributes(model: object, state_dir: Path) -> None:
    attrs = dict(vars(model))
    arrays = {k: v for k, v in attrs.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in attrs.items() if k not in arrays}
    try:
        text = json.dumps(plain, allow_nan=True)
    except TypeError as exc:
        raise PackageError(
            f"the attributes of {type(model).__qualname__} are not JSON values or numpy arrays ({exc}); "
            "implement shipyard_save(self, directory) and a classmethod shipyard_load(cls, directory)"
        ) from exc
    if any(a.dtype == object for a in arrays.values()):
        raise PackageError("numpy arrays of Python objects cannot be saved without pickle")
    (state_dir / "state.json").write_text(text)
    if arrays:
        np.savez(state_dir / "state.npz", **arrays)  # type: ignore[arg-type]


def _load_attributes(state_dir: Path) -> dict[str, Any]:
    attrs: dict[str, Any] = json.loads((state_dir / "state.json").read_text())
    npz = state_dir / "state.npz"
    if npz.exists():
        with np.load(npz, allow_pickle=False) as data:
            attrs.update({k: data[k] for k in data.files})
    return attrs
