"""Performance metrics against scikit-learn's implementations on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.core.errors import InvalidArgument
from shipyard.stats.metrics import classification_metrics, regression_metrics


def binary_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 2_000)
    p1 = np.clip(0.3 * y + rng.uniform(0, 0.7, y.size), 0, 1)
    p1 = np.round(p1, 2)  # ties in the scores
    p1[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # extremes exercise the log-loss clipping
    return y, (p1 >= 0.5).astype(int), np.column_stack([1 - p1, p1])


def test_binary_metrics_equal_sklearn() -> None:
    y, pred, proba = binary_case(1)
    out = classification_metrics(y, pred, proba)
    assert out["n"] == y.size
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert out["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert out["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert out["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), rel=1e-12)
    assert out["log_loss"] == pytest.approx(skm.log_loss(y, y_proba=proba), rel=1e-12)
    one_d = classification_metrics(y, pred, proba[:, 1])
    assert one_d["roc_auc"] == out["roc_auc"] and one_d["log_loss"] == out["log_loss"]


def test_binary_positive_class_is_classes_1_for_string_labels() -> None:
    y, pred, proba = binary_case(2)
    names = np.array(["no", "yes"])
    out = classification_metrics(names[y], names[pred], proba, classes=["no", "yes"])
    assert out["precision"] == pytest.approx(
        skm.precision_score(names[y], names[pred], pos_label="yes")
    )
    assert out["f1"] == pytest.approx(skm.f1_score(names[y], names[pred], pos_label="yes"))
    # with classes reversed, "no" is the positive class and proba columns follow classes
    rev = classification_metrics(names[y], names[pred], proba[:, ::-1], classes=["yes", "no"])
    assert rev["recall"] == pytest.approx(skm.recall_score(names[y], names[pred], pos_label="no"))
    assert rev["roc_auc"] == pytest.approx(out["roc_auc"])


def test_multiclass_macro_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    classes = np.array([0, 1, 2, 3])
    y = rng.choice(classes, 3_000, p=[0.4, 0.3, 0.2, 0.1])
    logits = rng.normal(0, 1, (y.size, 4))
    logits[np.arange(y.size), y] += 1.2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = classes[np.argmax(proba, axis=1)]
    pred[:40] = 3  # make the rare class's precision imperfect
    out = classification_metrics(y, pred, proba, classes=classes)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert out[name] == pytest.approx(fn(y, pred, average="macro", labels=classes))
    expected_auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    assert out["roc_auc"] == pytest.approx(expected_auc, rel=1e-12)
    assert out["log_loss"] == pytest.approx(
        skm.log_loss(y, y_proba=proba, labels=classes), rel=1e-12
    )


def test_zero_division_and_missing_class_give_zero_and_nan() -> None:
    out = classification_metrics([0, 0, 0], [0, 0, 0], [0.1, 0.2, 0.3], classes=[0, 1])
    assert out["precision"] == 0.0 and out["recall"] == 0.0 and out["accuracy"] == 1.0
    assert np.isnan(out["roc_auc"])  # only one class present: undefined (sklearn raises)


def test_classification_input_errors() -> None:
    with pytest.raises(InvalidArgument, match="not among the classes"):
        classification_metrics([0, 1, 2], [0, 1, 1], classes=[0, 1])
    with pytest.raises(InvalidArgument, match="shape"):
        classification_metrics([0, 1], [0, 1], np.ones((2, 3)))


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(10, 3, 1_000)
    pred = y + rng.normal(0.5, 1, y.size)
    out = regression_metrics(y, pred)
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)
    assert out["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-12)
    assert out["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-12)
    const = np.full(5, 2.0)
    assert regression_metrics(const, const)["r2"] == skm.r2_score(const, const) == 1.0
    assert regression_metrics(const, const + 1)["r2"] == skm.r2_score(const, const + 1) == 0.0
    assert np.isnan(regression_metrics([], [])["mae"])
