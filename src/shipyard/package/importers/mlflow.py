"""MLflow model folders (an ``MLmodel`` file and its artifacts) read into Shipyard's terms.

What is read, by flavor (the first of these the ``MLmodel`` lists):

- ``sklearn``: skops files under the same trust rules as Shipyard's own sklearn packages;
  pickle/cloudpickle files only with ``allow_pickle`` (the model is then saved again with skops, so
  the imported version never needs pickle again);
- ``xgboost``: the native file, rebuilt as an allow-listed estimator class;
- ``lightgbm``: the native text file of a Booster, or MLflow 3's skops file of a scikit-learn
  estimator read with a fixed allow-list of lightgbm types (never the list in the file);
- ``onnx``: the ONNX file;
- ``python_function`` alone: only with ``allow_pickle``; it becomes a ``python`` package that loads
  the MLflow model through ``mlflow.pyfunc`` (code that needs the same trust as any python package).

What is kept: the signature's column types (applied to the input example, from which Shipyard's
signature and reference profile are computed), the run id, MLflow's requirements (in the lineage),
and the run's params and metrics when a tracking store is given. ``runs:/`` and ``models:/`` URIs
of a local store are resolved without mlflow (``mlflow_store``).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from shipyard.core.errors import (
    InvalidArgument,
    MissingDependency,
    NotFound,
    PackageError,
    UnsafeFormatError,
)
from shipyard.package.flavors.base import require
from shipyard.package.importers.mlflow_store import (
    RunData,
    local_path,
    open_store,
    resolve,
)

Read = tuple[Any, str, dict[str, Any]]
"""(model object, Shipyard flavor that saves it, flavor options)."""

SUPPORTED = ("sklearn", "xgboost", "lightgbm", "onnx", "python_function")
PICKLE_REFUSAL = (
    "this MLflow model is stored with {what}, which can run arbitrary code when read; "
    "import it with --allow-pickle (SDK: allow_pickle=True) only if you trust who wrote it"
)
LIGHTGBM_TRUSTED = (
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
    "collections.OrderedDict",
)
MLFLOW_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "datetime": "datetime64[ns]",
}


@dataclass(frozen=True)
class MlflowModel:
    """An MLflow model read into what ``shipyard.package.save`` takes."""

    model: object
    flavor: str
    """The Shipyard flavor that will save it."""
    source_flavor: str
    sample: pd.DataFrame | None
    run_id: str | None
    lineage: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    flavor_options: dict[str, Any] = field(default_factory=dict)


def read_folder(source: Path, *, allow_pickle: bool = False) -> MlflowModel:
    """Read a local MLflow model folder (see the module doc)."""
    mlmodel_path = source / "MLmodel"
    if not mlmodel_path.is_file():
        raise NotFound(f"{source} is not an MLflow model folder (no MLmodel file)")
    try:
        mlmodel = yaml.safe_load(mlmodel_path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{mlmodel_path} is not valid YAML: {exc}") from exc
    flavors = dict(mlmodel.get("flavors") or {})
    chosen = next((f for f in SUPPORTED if f in flavors), None)
    if chosen is None or (chosen == "python_function" and len(flavors) > 1 and not allow_pickle):
        others = sorted(set(flavors) - {"python_function"}) or sorted(flavors)
        raise InvalidArgument(
            f"unsupported MLflow flavor {', '.join(others)}; shipyard imports "
            f"{', '.join(SUPPORTED)} (python_function needs --allow-pickle)"
        )
    conf = dict(flavors[chosen] or {})
    model, flavor, options = _READERS[chosen](source, conf, allow_pickle)
    sample = _example(source, mlmodel)
    return MlflowModel(
        model=model,
        flavor=flavor,
        source_flavor=chosen,
        sample=sample,
        run_id=mlmodel.get("run_id"),
        lineage={
            "mlflow_run_id": mlmodel.get("run_id"),
            "mlflow_model_id": mlmodel.get("model_uuid"),
            "mlflow_version": mlmodel.get("mlflow_version"),
            "mlflow_flavor": chosen,
            "mlflow_requirements": _requirements(source),
        },
        flavor_options=options,
    )


def read_source(
    source: str, *, tracking_uri: str | None, allow_pickle: bool, workdir: Path
) -> MlflowModel:
    """A model folder, or a ``runs:/`` / ``models:/`` URI of the store at ``tracking_uri``, read
    (see the module doc); with ``tracking_uri`` the run's params and metrics come along.

    A local store (``sqlite:///...`` or an ``mlruns`` folder) is read directly; a tracking server
    or artifacts off the local disk need the ``mlflow`` extra, which downloads into ``workdir``.
    """
    folder, run_id = Path(source), None
    if source.startswith(("runs:/", "models:/")):
        folder, run_id = _locate(source, tracking_uri, workdir)
    imported = read_folder(folder, allow_pickle=allow_pickle)
    run_id = imported.run_id or run_id
    if run_id and imported.run_id is None:  # a model saved into a run's artifacts by hand
        imported = replace(
            imported, run_id=run_id, lineage={**imported.lineage, "mlflow_run_id": run_id}
        )
    if not tracking_uri or not run_id:
        return imported
    data = _run_data(run_id, tracking_uri)
    return replace(imported, params=data.params, metrics=data.metrics)


def _locate(uri: str, tracking_uri: str | None, workdir: Path) -> tuple[Path, str | None]:
    if not tracking_uri:
        raise InvalidArgument(f"{uri} needs --tracking-uri (the MLflow tracking store or server)")
    store = open_store(tracking_uri)
    if store is None:
        mlflow = _mlflow(f"reading {tracking_uri} (not a sqlite:/// database or an mlruns folder)")
        downloaded = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(workdir), tracking_uri=tracking_uri
        )
        return Path(downloaded), None
    found = resolve(store, uri)
    local = local_path(found.location)
    if local is None:
        mlflow = _mlflow(f"reading {found.location} (where {uri} is)")
        downloaded = mlflow.artifacts.download_artifacts(
            artifact_uri=found.location, dst_path=str(workdir)
        )
        return Path(downloaded), found.run_id
    if not (local / "MLmodel").is_file():
        raise NotFound(f"{uri}: no MLflow model at {local} (no MLmodel file)")
    return local, found.run_id


def _run_data(run_id: str, tracking_uri: str) -> RunData:
    store = open_store(tracking_uri)
    if store is not None:
        return store.run_data(run_id)
    mlflow = _mlflow(f"reading {tracking_uri} (not a sqlite:/// database or an mlruns folder)")
    run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    return RunData(
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
    )


def _mlflow(needed_for: str) -> Any:
    try:
        return require("mlflow", "mlflow")
    except MissingDependency as exc:
        raise MissingDependency("mlflow", "mlflow", needed_for=needed_for) from exc


# -- flavors -----------------------------------------------------------------------------------------


def _sklearn(source: Path, conf: dict[str, Any], allow_pickle: bool) -> Read:
    fmt = str(conf.get("serialization_format", "cloudpickle"))
    path = source / str(conf.get("pickled_model", "model.pkl"))
    if fmt == "skops":
        from shipyard.package.flavors.sklearn import load_skops

        return load_skops(path), "sklearn", {}
    return _unpickle(path, fmt, allow_pickle), "sklearn", {}


def _xgboost(source: Path, conf: dict[str, Any], allow_pickle: bool) -> Read:
    from shipyard.package.flavors.xgboost import BOOSTER, ESTIMATORS

    xgb = require("xgboost", "xgboost")
    cls_name = str(conf.get("model_class", "xgboost.core.Booster")).rsplit(".", 1)[-1]
    if cls_name != BOOSTER and cls_name not in ESTIMATORS:
        raise InvalidArgument(f"unsupported xgboost model class {conf.get('model_class')!r}")
    model = xgb.Booster() if cls_name == BOOSTER else getattr(xgb, cls_name)()
    try:
        model.load_model(str(source / str(conf.get("data", "model.xgb"))))
    except Exception as exc:  # XGBoostError for an unreadable file
        raise PackageError(f"xgboost cannot read the MLflow model file: {exc}") from exc
    return model, "xgboost", {}


def _lightgbm(source: Path, conf: dict[str, Any], allow_pickle: bool) -> Read:
    lgb = require("lightgbm", "lightgbm")
    path = source / str(conf.get("data", "model.lgb"))
    fmt = str(conf.get("serialization_format", ""))
    if path.suffix == ".skops" or fmt == "skops":
        from shipyard.package.flavors.sklearn import load_skops

        return load_skops(path, extra_trusted=LIGHTGBM_TRUSTED), "lightgbm", {}
    if path.suffix in (".pkl", ".pickle") or fmt in ("pickle", "cloudpickle"):
        return _unpickle(path, fmt or "pickle", allow_pickle), "lightgbm", {}
    try:
        return lgb.Booster(model_file=str(path)), "lightgbm", {}
    except Exception as exc:  # LightGBMError
        raise PackageError(f"lightgbm cannot read the MLflow model file: {exc}") from exc


def _onnx(source: Path, conf: dict[str, Any], allow_pickle: bool) -> Read:
    onnx = require("onnx", "onnx")
    content = (source / str(conf.get("data", "model.onnx"))).read_bytes()
    return onnx.load_model_from_string(content), "onnx", {}


def _pyfunc(source: Path, conf: dict[str, Any], allow_pickle: bool) -> Read:
    if not allow_pickle:
        raise UnsafeFormatError(
            PICKLE_REFUSAL.format(what="a python_function model (pickled code)")
        )
    from shipyard.package.importers.mlflow_pyfunc import MlflowPyfunc

    return MlflowPyfunc.from_folder(source), "python", {}


_READERS = {
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
    "python_function": _pyfunc,
}


def _unpickle(path: Path, fmt: str, allow_pickle: bool) -> Any:
    if not allow_pickle:
        raise UnsafeFormatError(PICKLE_REFUSAL.format(what=fmt))
    if fmt == "cloudpickle":
        require("cloudpickle", "mlflow")
    with open(path, "rb") as fh:
        return pickle.load(fh)


# -- example and environment -------------------------------------------------------------------------


def _example(source: Path, mlmodel: dict[str, Any]) -> pd.DataFrame | None:
    info = mlmodel.get("saved_input_example_info") or {}
    path = source / str(info.get("artifact_path", "input_example.json"))
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if isinstance(doc, dict) and "columns" in doc and "data" in doc:
        frame = pd.DataFrame(doc["data"], columns=doc["columns"])
    elif isinstance(doc, list):
        frame = pd.DataFrame(doc)
    else:
        raise InvalidArgument(
            f"{path}: unsupported input example layout (expected split or records)"
        )
    return _typed(frame, mlmodel.get("signature") or {})


def _typed(frame: pd.DataFrame, signature: dict[str, Any]) -> pd.DataFrame:
    """Apply the MLflow signature's column types to the example (JSON lost them)."""
    raw = signature.get("inputs")
    if not raw:
        return frame
    specs = json.loads(raw) if isinstance(raw, str) else raw
    for spec in specs:
        name, kind = spec.get("name"), spec.get("type")
        if name in frame.columns and kind in MLFLOW_TYPES:
            frame[name] = frame[name].astype(MLFLOW_TYPES[kind])
    return frame


def _requirements(source: Path) -> list[str]:
    path = source / "requirements.txt"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]
