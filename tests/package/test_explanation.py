"""Explanations: additivity for every method, derived features summed back onto input columns,
the approximate fallback, and global importance recorded at packaging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard.package as pkg
from shipyard.core.errors import InvalidArgument

EXACT = 1e-6
"""Exact methods: base + sum of attributions = model output to this absolute tolerance."""


def _packaged(tmp_path: Path, model: object, X: pd.DataFrame, y: object = None) -> pkg.Model:
    path = tmp_path / "pkg"
    pkg.save(model, path, X_sample=X, y_sample=y)
    return pkg.load(path)


def _mixed_pipeline(final: Any, X: pd.DataFrame, y: pd.Series) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    return Pipeline([("pre", pre), ("est", final)]).fit(X, y)


def test_random_forest_pipeline_is_exact_on_probabilities_and_one_hot_sums_back(
    tmp_path: Path, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any
) -> None:
    shap = pytest.importorskip("shap")
    X, y = mixed_frame
    model = _packaged(tmp_path, mixed_pipeline, X, y)
    rows = X.head(25)
    explanation = model.explain(rows)
    assert explanation.columns == tuple(X.columns)  # input columns, not one-hot indicators
    assert (explanation.method, explanation.output, explanation.exact) == (
        "tree_shap",
        "probability",
        True,
    )
    assert explanation.explained_classes == (1,) * 25  # binary: the positive class
    expected = mixed_pipeline.predict_proba(rows)[:, 1]
    assert np.abs(explanation.outputs - expected).max() < EXACT

    # the attribution of "plan" is the sum of shap's values of its one-hot indicators
    pre, rf = mixed_pipeline[:-1], mixed_pipeline[-1]
    derived = shap.TreeExplainer(rf).shap_values(pre.transform(rows))[:, :, 1]
    names = list(pre.get_feature_names_out())
    plan = [i for i, n in enumerate(names) if n.startswith("cat__plan_")]
    assert len(plan) == 3
    column = list(X.columns).index("plan")
    assert np.allclose(explanation.attributions[:, column], derived[:, plan].sum(axis=1))


def test_linear_pipeline_is_exact_on_log_odds(
    tmp_path: Path, mixed_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = mixed_frame
    fitted = _mixed_pipeline(LogisticRegression(max_iter=1000), X, y)
    model = _packaged(tmp_path, fitted, X, y)
    explanation = model.explain(X.head(40))
    assert (explanation.method, explanation.output) == ("linear", "log-odds")
    assert np.abs(explanation.outputs - fitted.decision_function(X.head(40))).max() < EXACT
    # the base value is the log-odds at the background's mean of the derived features
    assert np.ptp(explanation.base_values) == 0
    # the predictions come from the features transformed once for the explanation, and are
    # the pipeline's own
    assert explanation.predictions.tolist() == fitted.predict(X.head(40)).tolist()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_value_that_overflows_inside_the_pipeline_is_bad_input(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.core.errors import SchemaError

    X, y = cancer
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    bad = X.head(2).copy()
    bad.loc[0, "mean smoothness"] = 1e307  # valid for the signature; infinite once scaled
    with pytest.raises(SchemaError, match="too large for this model"):
        model.explain(bad)


def test_forest_multiclass_explains_the_predicted_class(tmp_path: Path) -> None:
    pytest.importorskip("shap")
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    fitted = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    rows = X.iloc[::10]
    explanation = model.explain(rows)
    predicted = fitted.predict(rows)
    assert explanation.explained_classes == tuple(predicted.tolist())
    proba = fitted.predict_proba(rows)
    assert explanation.output == "probability"
    assert np.abs(explanation.outputs - proba[np.arange(len(rows)), predicted]).max() < EXACT
    setosa = model.explain(rows, target=0)  # a class asked for explicitly
    assert np.abs(setosa.outputs - proba[:, 0]).max() < EXACT
    with pytest.raises(InvalidArgument, match="target"):
        model.explain(X.head(1), target="virginica")


def test_gradient_boosting_is_exact_on_log_odds(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    pytest.importorskip("shap")
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = cancer
    fitted = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    explanation = model.explain(X.head(30))
    assert (explanation.method, explanation.output) == ("tree_shap", "log-odds")
    assert np.abs(explanation.outputs - fitted.decision_function(X.head(30))).max() < EXACT


def test_xgboost_pred_contribs_are_exact_on_the_margin(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = cancer
    fitted = xgb.XGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    explanation = model.explain(X.head(50))
    assert (explanation.method, explanation.output) == ("tree_shap", "margin")
    margin = fitted.predict(X.head(50), output_margin=True).astype(np.float64)
    # xgboost computes in float32: exact up to float32 rounding of a margin of a few units
    assert np.abs(explanation.outputs - margin).max() < 1e-5
    assert explanation.columns == tuple(X.columns)


def test_lightgbm_pred_contrib_is_exact_and_maps_renamed_columns(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["first col", "second", "third"])
    y = (X["first col"] + X["third"] > 0).astype(int)
    fitted = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    explanation = model.explain(X.head(30))
    assert explanation.columns == ("first col", "second", "third")
    raw = fitted.predict(X.head(30), raw_score=True)
    assert np.abs(explanation.outputs - raw).max() < EXACT
    importance = model.importance
    assert importance is not None and importance["method"] == "tree_shap"
    cols = importance["columns"]
    assert cols["second"] < cols["first col"] and cols["second"] < cols["third"]


def test_fallback_is_approximate_additive_and_close_to_exact(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.neighbors import KNeighborsRegressor

    X, y = cancer
    X = X.iloc[:, :6]
    fitted = KNeighborsRegressor().fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    assert model.importance is None  # not exact: not computed at packaging
    explanation = model.explain(X.head(3), budget=5_000)
    assert (explanation.method, explanation.exact) == ("permutation", False)
    assert "approximate" in explanation.note
    expected = fitted.predict(X.head(3))
    # the sampling walk telescopes, so additivity holds to rounding even for the estimate
    assert np.abs(explanation.outputs - expected).max() < EXACT


def test_fallback_matches_exact_linear_values_within_tolerance(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    """A linear model forced through the fallback: permutation values of an additive function
    equal the exact interventional values against the same background."""
    from sklearn.linear_model import LinearRegression

    from shipyard.package.explanation import _permutation
    from shipyard.package.flavors.explainers import explain_estimator

    X, y = cancer
    X = X.iloc[:, :5]
    fitted = LinearRegression().fit(X, y)
    model = _packaged(tmp_path, fitted, X, y)
    background = model.background
    assert background is not None and len(background) == 50
    approx = _permutation(model.predictor, X.head(4), background, budget=2_000)
    exact = explain_estimator(fitted, X.head(4), background)
    assert exact is not None
    assert np.abs(approx.values - exact.values).max() < 1e-9
    assert np.abs(approx.base - exact.base).max() < 1e-9


def test_importance_is_in_the_profile_and_old_packages_still_load(
    tmp_path: Path, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any
) -> None:
    pytest.importorskip("shap")
    X, y = mixed_frame
    model = _packaged(tmp_path, mixed_pipeline, X, y)
    importance = model.importance
    assert importance is not None
    assert set(importance["columns"]) == set(X.columns)
    ranked = sorted(importance["columns"], key=importance["columns"].get, reverse=True)
    assert set(ranked[:2]) == {"age", "plan"}  # the target is age > 50 xor plan == pro
    assert model.reference_profiles["inputs"].columns  # the profile itself is unchanged
