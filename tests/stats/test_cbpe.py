"""Label-free performance estimation: the building blocks, and the covariate-shift validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from shipyard.core.errors import InvalidArgument
from shipyard.stats.cbpe import (
    Calibration,
    estimate,
    expected_auc,
    expected_calibration_error,
    isotonic_knots,
    stratified_folds,
)

W, B = np.array([1.5, -1.0]), 0.3  # P(y = 1 | x) = sigmoid(W.x + B), fixed under the shift


def draw(
    n: int, rng: np.random.Generator, mean: np.ndarray | float = 0.0, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(mean, scale, (n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ W + B)))).astype(int)
    return x, y


def test_estimates_track_realised_metrics_under_covariate_shift() -> None:
    rng = np.random.default_rng(10)
    model = LogisticRegression().fit(*draw(10_000, rng))
    x_cal, y_cal = draw(10_000, rng)  # a reference split the model did not see
    calibration = Calibration.fit(model.predict_proba(x_cal), y_cal, model.classes_)
    acc_in = auc_in = 0
    acc_err, auc_err, realised = [], [], []
    for t in np.linspace(0.0, 1.0, 20):  # inputs drift; labels are held out
        x, y = draw(1_000, rng, mean=np.array([-0.3 * t, 0.6 * t]), scale=1.0 - 0.5 * t)
        proba = model.predict_proba(x)
        est = estimate(proba, calibration, model.classes_)
        accuracy = float(np.mean(model.predict(x) == y))
        auc = float(roc_auc_score(y, proba[:, 1]))
        acc_in += est.accuracy_low <= accuracy <= est.accuracy_high
        auc_in += est.roc_auc_low <= auc <= est.roc_auc_high
        acc_err.append(abs(accuracy - est.accuracy))
        auc_err.append(abs(auc - est.roc_auc))
        realised.append((accuracy, auc))
    spread = np.ptp(np.array(realised), axis=0)
    assert spread[0] > 0.05 and spread[1] > 0.08  # the shift really moves the metrics
    assert acc_in >= 16 and auc_in >= 15
    assert np.mean(acc_err) < 0.03 and np.mean(auc_err) < 0.03


def test_a_miscalibrated_model_is_calibrated_and_then_estimated_well() -> None:
    rng = np.random.default_rng(11)
    x_ref, y_ref = draw(10_000, rng)
    overconfident = 1 / (1 + np.exp(-3.0 * (x_ref @ W + B)))
    calibration = Calibration.fit(
        np.column_stack([1 - overconfident, overconfident]), y_ref, [0, 1]
    )
    assert calibration.calibrated == (True,)
    assert calibration.ece_calibrated[0] < calibration.ece_raw[0]
    x, y = draw(2_000, rng, mean=np.array([0.5, -0.5]))
    s = 1 / (1 + np.exp(-3.0 * (x @ W + B)))
    proba = np.column_stack([1 - s, s])
    est = estimate(proba, calibration, [0, 1])
    accuracy = float(np.mean((s >= 0.5) == y))
    assert est.accuracy_low <= accuracy <= est.accuracy_high
    raw = estimate(proba, Calibration((0, 1), ((),), ((),), (0.0,), (0.0,)), [0, 1])
    assert abs(raw.accuracy - accuracy) > 3 * abs(est.accuracy - accuracy)  # raw scores mislead


def test_expected_auc_equals_the_brute_force_pair_sum() -> None:
    rng = np.random.default_rng(12)
    scores = np.round(rng.uniform(0, 1, 300), 1)  # many ties
    p = rng.uniform(0, 1, 300)
    q = 1 - p
    greater = scores[:, None] > scores[None, :]
    tie = (scores[:, None] == scores[None, :]) & ~np.eye(300, dtype=bool)
    weight = p[:, None] * q[None, :]
    brute = (weight * greater).sum() + 0.5 * (weight * tie).sum()
    brute /= (weight * ~np.eye(300, dtype=bool)).sum()
    assert expected_auc(scores, p) == pytest.approx(brute, rel=1e-12)
    labels = np.array([0, 0, 1, 1])  # with certain labels it is the realised AUC
    assert expected_auc(np.array([0.1, 0.4, 0.35, 0.8]), labels.astype(float)) == pytest.approx(
        roc_auc_score(labels, [0.1, 0.4, 0.35, 0.8])
    )


def test_isotonic_knots_reproduce_sklearn_isotonic_regression() -> None:
    rng = np.random.default_rng(13)
    s = np.round(rng.uniform(0, 1, 2_000), 3)
    o = (rng.random(2_000) < s**2).astype(float)
    kx, ky = isotonic_knots(s, o)
    ref = IsotonicRegression(out_of_bounds="clip").fit(s, o)
    grid = np.linspace(-0.1, 1.1, 1_001)
    assert np.interp(grid, kx, ky) == pytest.approx(ref.predict(grid), abs=1e-12)
    assert np.all(np.diff(ky) >= 0) and kx.size < 200


def test_expected_calibration_error_by_hand() -> None:
    s = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    o = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    # bins: [0, .1): |0 - .05| * 1; [.1, .2): |.5 - .135| * 2; [.9, 1]: |1 - .975| * 2
    expected = (0.05 + 2 * 0.365 + 2 * 0.025) / 5
    assert expected_calibration_error(s, o) == pytest.approx(expected)


def test_stratified_folds_split_every_class_evenly() -> None:
    codes = np.repeat([0, 1, 2], [300, 90, 31])
    fold = stratified_folds(codes, 3)
    counts = np.array([[np.sum((codes == c) & (fold == f)) for f in range(3)] for c in range(3)])
    assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all()
    assert np.array_equal(fold, stratified_folds(codes, 3))  # seeded


def test_multiclass_calibration_round_trip_and_estimate() -> None:
    rng = np.random.default_rng(14)
    x = rng.normal(0, 1, (6_000, 2))
    logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 2.5  # overconfident
    truth = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[(rng.random(6_000)[:, None] > truth.cumsum(axis=1)).sum(axis=1)]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    calibration = Calibration.fit(proba[:3_000], y[:3_000], ["a", "b", "c"])
    restored = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert restored == calibration and any(calibration.calibrated)
    applied = restored.apply(proba[3_000:])
    assert applied.sum(axis=1) == pytest.approx(np.ones(3_000))
    est = estimate(proba[3_000:], restored)
    accuracy = float(np.mean(np.array(["a", "b", "c"])[proba[3_000:].argmax(axis=1)] == y[3_000:]))
    assert est.accuracy_low <= accuracy <= est.accuracy_high and est.n == 3_000
    assert 0.5 < est.roc_auc_low < est.roc_auc < est.roc_auc_high < 1.0
    # columns given in another order are put back in the calibration's order
    shuffled = estimate(proba[3_000:, ::-1], restored, ["c", "b", "a"])
    assert shuffled.accuracy == pytest.approx(est.accuracy)


def test_estimate_edge_cases() -> None:
    calibration = Calibration((0, 1), ((),), ((),), (0.0,), (0.0,))
    empty = estimate(np.empty((0, 2)), calibration, [0, 1])
    assert empty.n == 0 and np.isnan(empty.accuracy)
    assert json.dumps(empty.to_dict(), allow_nan=False)
    with pytest.raises(InvalidArgument):
        estimate(np.full((3, 2), 0.5), calibration, ["x", "y"])
    by_label = estimate(np.array([[0.9, 0.1], [0.2, 0.8]]), calibration, y_pred=[1, 1])
    assert by_label.accuracy == pytest.approx((0.1 + 0.8) / 2)
