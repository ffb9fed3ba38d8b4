"""``import mlflow``: folders written by mlflow 3.17.2 (tests/fixtures/mlflow_models, rebuilt by
its make_models.py) become versions that predict exactly like mlflow's ``pyfunc.load_model``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shipyard.core.errors import InvalidArgument, MissingDependency, UnsafeFormatError
from shipyard.registry.service import RegistryService

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mlflow_models"


def _expected(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / name / "expected.json").read_text()))


@pytest.mark.parametrize(
    ("folder", "flavor", "allow_pickle"),
    [
        ("sklearn_skops", "sklearn", False),
        ("sklearn_cloudpickle", "sklearn", True),
        ("xgboost", "xgboost", False),
        ("lightgbm", "lightgbm", False),
        ("onnx", "onnx", False),
    ],
)
def test_imported_version_predicts_exactly_like_mlflow(
    registry: RegistryService, folder: str, flavor: str, allow_pickle: bool
) -> None:
    pytest.importorskip(flavor if flavor != "sklearn" else "skops")
    version = registry.import_mlflow(
        str(FIXTURES / folder), name=folder.replace("_", "-"), allow_pickle=allow_pickle
    )
    assert version.flavor == flavor
    model = registry.load(version.ref)  # never needs pickle again, even if the source did
    manifest = model.manifest
    assert manifest.flavor.serialization != "pickle"
    expected = _expected(folder)
    assert manifest.lineage.extra["mlflow_run_id"] == expected["run_id"]
    assert manifest.lineage.extra["mlflow_version"] == "3.17.2"
    assert any(r.startswith("mlflow==") for r in manifest.lineage.extra["mlflow_requirements"])
    example = model.input_example()
    assert len(example) == 5
    predictions = model.predict(example)
    want = np.asarray(expected["predictions"]).reshape(predictions.shape)
    assert predictions.dtype.kind == want.dtype.kind or want.dtype.kind in "iu"
    assert np.array_equal(predictions, want)
    # the signature keeps mlflow's column types (its ONNX model has no signature: inferred from
    # the example), and the example became the reference profile
    assert [(c.name, c.dtype) for c in model.signature.columns] == [
        ("age", "float64"),
        ("income", "float64"),
        ("score", "float64"),
    ]
    assert set(model.reference_profiles["inputs"].columns) == {"age", "income", "score"}


def test_pickle_is_refused_naming_the_flag(registry: RegistryService) -> None:
    with pytest.raises(UnsafeFormatError, match="--allow-pickle"):
        registry.import_mlflow(str(FIXTURES / "sklearn_cloudpickle"), name="cp")
    with pytest.raises(UnsafeFormatError, match="--allow-pickle"):
        registry.import_mlflow(str(FIXTURES / "pyfunc"), name="py")


def test_python_function_with_allow_pickle_needs_mlflow(registry: RegistryService) -> None:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependency, match=r"shipyard\[mlflow\]"):
            registry.import_mlflow(str(FIXTURES / "pyfunc"), name="py", allow_pickle=True)
    else:  # pragma: no cover - only where the mlflow extra is installed
        version = registry.import_mlflow(str(FIXTURES / "pyfunc"), name="py", allow_pickle=True)
        assert version.flavor == "python"


def test_unsupported_flavor_and_missing_folder_are_one_line(
    registry: RegistryService, tmp_path: Path
) -> None:
    folder = tmp_path / "torch_model"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n  pytorch: {}\n  python_function: {loader_module: mlflow.pytorch}\n"
    )
    with pytest.raises(InvalidArgument, match="unsupported MLflow flavor pytorch") as info:
        registry.import_mlflow(str(folder), name="torch")
    assert "\n" not in str(info.value)
    with pytest.raises(Exception, match="no MLmodel file"):
        registry.import_mlflow(str(tmp_path), name="nothing")
    with pytest.raises(InvalidArgument, match="--tracking-uri"):
        registry.import_mlflow("runs:/abc/model", name="remote")
