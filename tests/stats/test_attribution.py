"""Attribution arithmetic: folding derived features onto their input columns, and Shapley sampling."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.stats.attribution import additivity_error, fold, mean_abs, permutation_shapley, shares


def test_fold_sums_each_derived_feature_onto_its_owner() -> None:
    values = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 1.0, 0.0]])
    folded = fold(values, owners=[0, 1, 1, 1], n_columns=2)
    assert folded.tolist() == [[1.0, 9.0], [0.5, 0.5]]
    # totals are unchanged, so additivity survives the fold
    assert np.allclose(folded.sum(axis=1), values.sum(axis=1))


def test_fold_keeps_outputs_axis() -> None:
    values = np.arange(12, dtype=float).reshape(2, 3, 2)  # rows, derived, outputs
    folded = fold(values, owners=[1, 0, 1], n_columns=2)
    assert folded.shape == (2, 2, 2)
    assert folded[0, 1].tolist() == [0 + 4, 1 + 5]


def test_fold_of_one_feature_per_column_in_order_is_the_values() -> None:
    values = np.arange(12, dtype=float).reshape(2, 3, 2)
    assert np.array_equal(fold(values, owners=[0, 1, 2], n_columns=3), values)
    swapped = fold(values, owners=[1, 0, 2], n_columns=3)
    assert np.array_equal(swapped[:, [1, 0, 2]], values)


def test_fold_refuses_mismatched_owners() -> None:
    with pytest.raises(ValueError, match="owners"):
        fold(np.zeros((1, 3)), owners=[0, 1], n_columns=2)
    with pytest.raises(ValueError, match="index 2 input columns"):
        fold(np.zeros((1, 2)), owners=[0, 2], n_columns=2)


def test_additivity_error_and_importance() -> None:
    values = np.array([[1.0, -2.0], [3.0, 0.0]])
    assert additivity_error(np.array([0.5, 0.5]), values, np.array([-0.5, 3.5])) == 0.0
    assert additivity_error(np.array([0.5, 0.5]), values, np.array([-0.5, 3.0])) == 0.5
    assert mean_abs(values).tolist() == [2.0, 1.0]
    assert shares({"a": 3.0, "b": 1.0}) == {"a": 0.75, "b": 0.25}
    assert shares({"a": 0.0}) == {"a": 0.0}


def test_permutation_shapley_is_exact_for_an_additive_function_and_sums_to_the_output() -> None:
    x = np.array([1.0, 2.0, -3.0])
    background = np.array([[0.0, 0.0, 0.0], [2.0, 4.0, 1.0]])
    weights = np.array([1.5, -2.0, 0.5])

    def evaluate(masks: np.ndarray) -> np.ndarray:
        rows = np.where(masks[:, None, :], x[None, None, :], background[None, :, :])
        return (rows @ weights).mean(axis=1)

    values, base = permutation_shapley(evaluate, 3, permutations=3, seed=1)
    expected = weights * (x - background.mean(axis=0))
    assert np.allclose(values, expected, atol=1e-12)
    assert base == pytest.approx(float(background.mean(axis=0) @ weights))
    assert base + values.sum() == pytest.approx(float(x @ weights), abs=1e-12)


def test_permutation_shapley_splits_an_interaction_evenly_in_expectation() -> None:
    def evaluate(masks: np.ndarray) -> np.ndarray:  # f = x0 * x1 with x = (1, 1), background 0
        return (masks[:, 0] & masks[:, 1]).astype(float)

    values, base = permutation_shapley(evaluate, 2, permutations=1, seed=0)
    # forward and backward walks of one order give each column half of the interaction
    assert values.tolist() == [0.5, 0.5]
    assert base == 0.0
