"""``convert --to onnx``: kept (new version, lineage to its parent) only when labels are equal and
probabilities within 1e-5 on the reference rows; refused with the largest difference otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidArgument, PackageError
from shipyard.interfaces.sdk import Client
from shipyard.registry.conversion import convert_version

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")


def _models(X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import RandomForestClassifier

    return {
        "rf": RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y),
        "xgb": xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y),
        "lgb": lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y),
    }


@pytest.mark.parametrize("name", ["rf", "xgb", "lgb"])
def test_conversion_is_kept_when_predictions_match(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], name: str
) -> None:
    X, y = cancer
    model = _models(X, y)[name]
    with Client(home=tmp_path / "home") as client:
        client.log_model(model, name=name, X_sample=X, y_sample=y)
        result = convert_version(client.registry, f"{name}/1", to="onnx")
        assert (result.version.version, result.version.flavor) == (2, "onnx")
        assert result.parent == f"{name}/1" and result.rows == 50
        assert result.max_difference <= 1e-5
        converted = client.load_model(f"{name}/2")
        assert converted.manifest.lineage.parent == f"{name}/1"
        assert converted.manifest.tags["converted_from"] == f"{name}/1"
        rows = X.sample(100, random_state=3)
        assert np.array_equal(converted.predict(rows), model.predict(rows))
        assert np.abs(converted.predict_proba(rows) - model.predict_proba(rows)).max() < 1e-5


def test_mixed_pipeline_converts_with_one_input_per_column(
    tmp_path: Path, mixed_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = mixed_frame
    X = X.drop(columns=["tenure"])  # skl2onnx's imputer has no NaN-in-int story; keep it simple
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(), ["plan", "region"])]
    )
    fitted = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))]).fit(X, y)
    with Client(home=tmp_path / "home") as client:
        client.log_model(fitted, name="mixed", X_sample=X, y_sample=y)
        result = convert_version(client.registry, "mixed/1", to="onnx")
        converted = client.load_model(result.version.ref)
        assert np.array_equal(converted.predict(X.head(40)), fitted.predict(X.head(40)))


def test_conversion_is_refused_with_the_largest_difference(tmp_path: Path) -> None:
    """Inputs near 1e7 vary by a few units: float32 (what the ONNX graph computes in) cannot hold
    them, so probabilities move far beyond the tolerance."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"big": 1e7 + rng.normal(0, 3, 300), "small": rng.normal(0, 1, 300)})
    y = (X["big"] > 1e7).astype(int)
    fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with Client(home=tmp_path / "home") as client:
        client.log_model(fitted, name="fragile", X_sample=X, y_sample=y)
        with pytest.raises(
            PackageError, match=r"refused: .*\(largest probability difference 0\.\d+"
        ) as e:
            convert_version(client.registry, "fragile/1", to="onnx")
        assert "\n" not in str(e.value)
        assert [v.version for v in client.registry.list_versions("fragile")] == [1]
        with pytest.raises(InvalidArgument, match="--to"):
            convert_version(client.registry, "fragile/1", to="tflite")
