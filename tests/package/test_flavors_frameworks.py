"""Round trips of the framework flavors: xgboost, lightgbm, onnx (via skl2onnx) and torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard.package as package
from shipyard.core.errors import PackageError
from shipyard.package.flavors.base import SavedModel
from shipyard.package.flavors.lightgbm import LightGBMFlavor
from shipyard.package.flavors.onnx import OnnxFlavor
from shipyard.package.flavors.torch import TorchFlavor
from shipyard.package.flavors.xgboost import XGBoostFlavor

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".dill"}


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def cancer_frame() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 12.0, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        }
    )
    target = np.where((frame["age"] > 45) ^ (frame["plan"] == "pro"), "churn", "stay")
    return frame, target


def assert_no_pickle(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert path.suffix not in PICKLE_SUFFIXES, path
            head = path.read_bytes()[:2]
            assert not (
                head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
            ), path


def round_trip(model: object, tmp_path: Path, sample: Any, **kwargs: Any) -> package.Model:
    manifest = package.save(model, tmp_path / "pkg", name="m", X_sample=sample, **kwargs)
    loaded = package.load(tmp_path / "pkg")
    assert loaded.manifest.flavor == manifest.flavor
    assert_no_pickle(tmp_path / "pkg")
    return loaded


# -- xgboost ---------------------------------------------------------------------------------------


def test_xgboost_classifier_round_trip(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = iris
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    loaded = round_trip(model, tmp_path, X)
    assert loaded.manifest.flavor.name == "xgboost"
    assert loaded.manifest.flavor.serialization == "ubj"
    assert loaded.manifest.flavor.options["estimator"] == "XGBClassifier"
    assert loaded.classes == (0, 1, 2)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    shuffled = X[list(reversed(X.columns))]
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(X))


def test_xgboost_regressor_and_booster(
    tmp_path: Path, cancer_frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = cancer_frame
    arr = X.to_numpy()
    reg = xgb.XGBRegressor(n_estimators=20, max_depth=3).fit(arr, y.astype(float))
    loaded = round_trip(reg, tmp_path / "reg", arr)
    assert loaded.classes is None
    np.testing.assert_allclose(loaded.predict(arr), reg.predict(arr))
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, y), 10)
    loaded = round_trip(booster, tmp_path / "booster", X)
    assert loaded.manifest.flavor.options["estimator"] == "Booster"
    np.testing.assert_allclose(loaded.predict(X), booster.predict(xgb.DMatrix(X)))


def test_xgboost_refuses_an_estimator_outside_the_allow_list(tmp_path: Path) -> None:
    pytest.importorskip("xgboost")
    saved = SavedModel(
        files=("model.ubj",),
        framework="xgboost",
        framework_version="0",
        serialization="ubj",
        options={"estimator": "os.system"},
    )
    with pytest.raises(PackageError, match="unknown xgboost estimator"):
        XGBoostFlavor().load(tmp_path, saved, allow_pickle=False)


# -- lightgbm --------------------------------------------------------------------------------------


def test_lightgbm_classifier_with_string_labels(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(X, labels)
    loaded = round_trip(model, tmp_path, X)
    assert loaded.manifest.flavor.name == "lightgbm"
    assert loaded.manifest.flavor.serialization == "lightgbm-text"
    assert loaded.classes == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_lightgbm_binary_classifier_and_regressor(
    tmp_path: Path, cancer_frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = cancer_frame
    labels = np.where(y == 1, "benign", "malignant")
    clf = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(X, labels)
    loaded = round_trip(clf, tmp_path / "clf", X)
    assert loaded.classes == ("benign", "malignant")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    reg = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1).fit(X, y.astype(float))
    loaded = round_trip(reg, tmp_path / "reg", X)
    assert loaded.classes is None
    np.testing.assert_allclose(loaded.predict(X), reg.predict(X))


# -- onnx ------------------------------------------------------------------------------------------


def test_onnx_single_tensor_input(tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = iris[0].to_numpy(dtype=np.float32)
    y = iris[1]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    for zipmap in (True, False):
        onx = skl2onnx.to_onnx(pipe, X[:1], options={id(pipe): {"zipmap": zipmap}})
        loaded = round_trip(onx, tmp_path / str(zipmap), X)
        assert loaded.manifest.flavor.name == "onnx"
        assert loaded.manifest.flavor.serialization == "onnx"
        assert loaded.classes == (0, 1, 2)
        np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
        np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X), atol=1e-5)


def test_onnx_one_input_per_column(tmp_path: Path, mixed: tuple[pd.DataFrame, np.ndarray]) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = mixed
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    pipe = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X, y)
    onx = skl2onnx.convert_sklearn(
        pipe,
        initial_types=[
            ("age", Int64TensorType([None, 1])),
            ("income", FloatTensorType([None, 1])),
            ("plan", StringTensorType([None, 1])),
        ],
    )
    loaded = round_trip(onx, tmp_path, X)
    assert loaded.manifest.flavor.options["inputs"] == ["age", "income", "plan"]
    assert loaded.classes == ("churn", "stay")
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X), atol=1e-5)
    records = X.head(3).to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), pipe.predict(X.head(3)))


def test_onnx_refuses_external_data(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [2.0])
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("float_data")
    weight.external_data.add(key="location", value="../../etc/passwd")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [weight],
    )
    model = helper.make_model(graph)
    assert isinstance(model, onnx.ModelProto)
    with pytest.raises(PackageError, match="external"):
        OnnxFlavor().save(model, tmp_path, {})


# -- torch -----------------------------------------------------------------------------------------


def test_torch_regressor_round_trip(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    sample = torch.randn(16, 4)
    loaded = round_trip(net, tmp_path, sample)
    assert loaded.manifest.flavor.name == "torch"
    assert loaded.manifest.flavor.serialization == "torchscript"
    assert loaded.manifest.flavor.options["method"] == "script"
    assert loaded.classes is None
    with torch.no_grad():
        expected = net(sample).numpy().ravel()
    np.testing.assert_allclose(loaded.predict(sample.numpy()), expected, rtol=1e-6)
    np.testing.assert_allclose(
        loaded.predict(sample.numpy().astype(np.float64)), expected, rtol=1e-6
    )


def test_torch_classifier_with_classes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    sample = torch.randn(20, 3)
    loaded = round_trip(net, tmp_path, sample, flavor_options={"classes": ["a", "b", "c"]})
    assert loaded.classes == ("a", "b", "c")
    with torch.no_grad():
        logits = net(sample)
    expected_proba = torch.softmax(logits, dim=1).numpy()
    expected = np.array(["a", "b", "c"])[logits.argmax(dim=1).numpy()]
    np.testing.assert_array_equal(loaded.predict(sample.numpy()), expected)
    np.testing.assert_allclose(loaded.predict_proba(sample.numpy()), expected_proba, rtol=1e-6)


def test_torch_traces_when_scripting_fails(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Scaled(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, x: Any) -> Any:
            import math  # import statements are not TorchScript: scripting fails

            return self.linear(x) * math.sqrt(4.0)

    net = Scaled()
    sample = torch.randn(8, 2)
    with pytest.raises(PackageError, match="example_input"):
        TorchFlavor().save(net, tmp_path, {})
    loaded = round_trip(net, tmp_path, sample, flavor_options={"example_input": sample[:2]})
    assert loaded.manifest.flavor.options["method"] == "trace"
    with torch.no_grad():
        expected = net(sample).numpy().ravel()
    np.testing.assert_allclose(loaded.predict(sample.numpy()), expected, rtol=1e-6)


# -- accepts ---------------------------------------------------------------------------------------


def test_accepts_own_models_only(iris: tuple[pd.DataFrame, np.ndarray]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    plain = LogisticRegression(max_iter=500).fit(X, y)
    flavors = (XGBoostFlavor(), LightGBMFlavor(), OnnxFlavor(), TorchFlavor())
    assert not any(f.accepts(plain) for f in flavors)
    assert not any(f.accepts(np.zeros(3)) for f in flavors)

    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    onnx = pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    own: dict[Any, list[object]] = {
        XGBoostFlavor: [xgb.XGBClassifier(), xgb.XGBRegressor(), xgb.XGBRanker(), xgb.Booster()],
        LightGBMFlavor: [lgb.LGBMClassifier(), lgb.LGBMRegressor(), lgb.LGBMRanker()],
        OnnxFlavor: [onnx.ModelProto()],
        TorchFlavor: [torch.nn.Linear(2, 1), torch.nn.Sequential(torch.nn.ReLU())],
    }
    for flavor in flavors:
        for kind, models in own.items():
            for model in models:
                assert flavor.accepts(model) is isinstance(flavor, kind), (flavor.name, model)
