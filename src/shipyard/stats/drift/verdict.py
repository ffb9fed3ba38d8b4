"""The drift verdict: which columns of a window drifted from the reference, and did the dataset.

Per column, ``compare`` runs the configured stat tests (by name, from the installed ones) and keeps:

* the **primary** test's p-value: KS for numerical columns, chi-squared for categorical ones (both
  distribution-free tests of "same distribution", with a p-value);
* the **effect size**: PSI on the coarse bins (or categories + other);
* the **missing** test: a two-proportion z-test of the missing share and its absolute change.

Decision rule::

    column drifts  <=>  (adjusted primary p < alpha  and  PSI >= effect_size_floor)
                    or  (adjusted missing p < alpha  and  |missing share change| >= missing_share_floor)
                    or  the window column is entirely missing
    dataset drifts <=>  at least one column drifts

Why each part:

* **Multiple testing.** Testing 50 columns at alpha = 0.05 flags ~2.5 columns on every window even
  when nothing changed. All the p-values of a window (primary ones and missing-share ones, one
  family) are adjusted together: with Holm (default) the probability that *any* column is flagged
  on a window without drift is at most alpha, so "dataset drift" is an alert with a known false
  alarm rate; Holm is uniformly more powerful than Bonferroni and needs no independence assumption
  (column tests are correlated). ``correction="bh"`` (Benjamini-Hochberg) controls the expected
  share of false discoveries among flagged columns instead: more power when many columns truly
  drift, but the dataset-level false alarm rate is then only bounded by alpha under the global null.
  Missing-share tests where neither side has any missing value cannot reject (p = 1 by construction)
  and are left out of the family, so they do not dilute the others.
* **Effect-size floor.** A p-value measures evidence, not importance: with a million rows a shift
  of 0.01 standard deviations is "significant" yet irrelevant to a model. Requiring PSI >= 0.1 (the
  customary "no meaningful shift" bound, see ``psi``) keeps large windows from flagging trivial
  shifts, while the p-value keeps small windows from flagging noise (PSI of small samples is biased
  upward). The same reasoning gives the missing-share floor (default 0.05, five points).
* **All missing.** A window column with rows but no value (dropped field, broken join) is always
  flagged with reason "all values missing"; its distribution tests are not run (nothing to
  compare), only the missing-share test (which joins the family). Never an exception.
* **Empty window.** Zero rows: nothing is tested, no column drifts, reason "empty window".

Raw values: when ``window_values`` (raw finite values per numerical column, e.g. from
``profile.numeric_values``) are given and the window has at most ``exact_max_rows`` rows (default
100,000), they are passed to the tests, so KS and Wasserstein run on the window's raw values against
the reference's sketch (exact at its edges); larger windows use the binned sketches (their raw values
are never needed, and the sketches keep KS within one bin's mass). Keeping 100,000 raw values costs
0.8 MB per numerical column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift.base import (
    CATEGORICAL,
    NUMERIC,
    FloatArray,
    StatTest,
    TestOutcome,
    kind_of,
    stattest_named,
)
from shipyard.stats.drift.correction import adjust
from shipyard.stats.drift.missing import missing_share
from shipyard.stats.profile import DEFAULT_BINS, ColumnProfile, DatasetProfile, NumericProfile


def _default_tests() -> dict[str, tuple[str, ...]]:
    return {
        NUMERIC: ("ks", "psi", "wasserstein", "jensenshannon", "missing"),
        CATEGORICAL: ("chisquare", "psi", "jensenshannon", "missing"),
    }


def _default_primary() -> dict[str, str]:
    return {NUMERIC: "ks", CATEGORICAL: "chisquare"}


@dataclass(frozen=True)
class DriftConfig:
    """How ``compare`` decides; the defaults and their reasons are in the module docstring."""

    alpha: float = 0.05
    correction: Literal["holm", "bh"] = "holm"
    effect_size_floor: float = 0.1
    """Minimum PSI for a significant distribution change to count as drift."""
    missing_share_floor: float = 0.05
    """Minimum absolute change of the missing share for a significant one to count as drift."""
    bins: int = DEFAULT_BINS
    """Coarse bins of reference profiles built for this config (``build_profile(bins=...)``);
    ``compare`` itself uses whatever edges the reference profile has."""
    exact_max_rows: int = 100_000
    """Windows up to this many rows get raw values passed to the tests (KS, Wasserstein)."""
    tests: Mapping[str, tuple[str, ...]] = field(default_factory=_default_tests)
    """Test names run per column kind (the primary, effect-size and missing tests always run)."""
    primary: Mapping[str, str] = field(default_factory=_default_primary)
    effect_size: str = "psi"

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise InvalidArgument(f"alpha must be in (0, 1), not {self.alpha}")
        if self.correction not in ("holm", "bh"):
            raise InvalidArgument(f"correction must be 'holm' or 'bh', not {self.correction!r}")
        if self.effect_size_floor < 0 or self.missing_share_floor < 0 or self.exact_max_rows < 0:
            raise InvalidArgument("floors and exact_max_rows must be >= 0")
        if set(self.primary) != {NUMERIC, CATEGORICAL}:
            raise InvalidArgument("primary must name one test for 'numeric' and 'categorical'")

    def tests_for(self, kind: str) -> tuple[StatTest, ...]:
        """The installed tests to run on ``kind`` columns: primary, effect size, missing, others."""
        names = dict.fromkeys(
            (self.primary[kind], self.effect_size, "missing", *self.tests.get(kind, ()))
        )
        return tuple(stattest_named(name, kind) for name in names)


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    results: Mapping[str, TestOutcome]
    p_value: float | None
    """The primary test's p-value (KS or chi-squared); None when it could not run."""
    adjusted_p_value: float | None
    effect_size: float | None
    """PSI (``DriftConfig.effect_size``); None when it could not run."""
    missing_share_ref: float
    missing_share_window: float
    missing_adjusted_p_value: float | None
    all_missing: bool
    drift: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "results": {k: v.to_dict() for k, v in self.results.items()},
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "effect_size": self.effect_size,
            "missing_share_ref": self.missing_share_ref,
            "missing_share_window": self.missing_share_window,
            "missing_adjusted_p_value": self.missing_adjusted_p_value,
            "all_missing": self.all_missing,
            "drift": self.drift,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DatasetDrift:
    columns: Mapping[str, ColumnDrift]
    drift: bool
    drifted: list[str]
    correction: str
    alpha: float
    n_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "drifted": list(self.drifted),
            "correction": self.correction,
            "alpha": self.alpha,
            "n_rows": self.n_rows,
            "columns": {k: v.to_dict() for k, v in self.columns.items()},
        }


def _p(outcome: TestOutcome | None) -> float | None:
    if outcome is None or outcome.p_value is None or np.isnan(outcome.p_value):
        return None
    return float(outcome.p_value)


def _stat(outcome: TestOutcome | None) -> float | None:
    if outcome is None or np.isnan(outcome.statistic):
        return None
    return float(outcome.statistic)


def _values_for(
    name: str, column: ColumnProfile, window_values: Mapping[str, FloatArray] | None
) -> FloatArray | None:
    if window_values is None or not isinstance(column, NumericProfile):
        return None
    if name not in window_values:
        return None
    values = np.asarray(window_values[name], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size != column.moments.count:
        raise InvalidArgument(
            f"window_values[{name!r}] has {values.size} finite values but the window profile "
            f"counted {column.moments.count}; build both from the same data"
        )
    return values


def _run(
    name: str,
    ref: ColumnProfile,
    win: ColumnProfile,
    values: FloatArray | None,
    tests: tuple[StatTest, ...],
) -> dict[str, TestOutcome]:
    if kind_of(win) != kind_of(ref):
        raise InvalidArgument(f"column {name!r} is {kind_of(ref)} in the reference only")
    if win.rows > 0 and win.missing == win.rows:  # all missing: only the missing-share test
        tests = tuple(t for t in tests if t.name == "missing")
        values = None
    return {test.name: test.compute(ref, win, values) for test in tests}


def _decide(
    name: str,
    kind: str,
    ref: ColumnProfile,
    win: ColumnProfile,
    results: dict[str, TestOutcome],
    adjusted: Mapping[tuple[str, str], float],
    config: DriftConfig,
) -> ColumnDrift:
    primary = config.primary[kind]
    all_missing = win.rows > 0 and win.missing == win.rows
    share_ref, share_win = missing_share(ref), missing_share(win)
    adj_p = adjusted.get((name, "primary"))
    adj_missing = adjusted.get((name, "missing"))
    effect = _stat(results.get(config.effect_size))
    reasons: list[str] = []
    notes: list[str] = []
    if all_missing:
        reasons.append("all values missing")
    elif adj_p is None:
        notes.append("no values to compare")
    elif adj_p < config.alpha:
        text = f"{primary} adjusted p={adj_p:.3g} < {config.alpha:g}"
        if effect is not None and effect >= config.effect_size_floor:
            reasons.append(f"{text} and {config.effect_size}={effect:.3f}")
        else:
            shown = "n/a" if effect is None else f"{effect:.3f}"
            notes.append(f"{text} but {config.effect_size}={shown} < {config.effect_size_floor:g}")
    if adj_missing is not None and adj_missing < config.alpha and not all_missing:
        text = f"missing share {share_ref:.1%} -> {share_win:.1%} (adjusted p={adj_missing:.3g})"
        if abs(share_win - share_ref) >= config.missing_share_floor:
            reasons.append(text)
        else:
            notes.append(f"{text} below the {config.missing_share_floor:.0%} floor")
    return ColumnDrift(
        column=name,
        kind=kind,
        results=results,
        p_value=_p(results.get(primary)),
        adjusted_p_value=adj_p,
        effect_size=effect,
        missing_share_ref=share_ref,
        missing_share_window=share_win,
        missing_adjusted_p_value=adj_missing,
        all_missing=all_missing,
        drift=bool(reasons),
        reason="; ".join(reasons or notes or ["no significant change"]),
    )


def compare(
    reference: DatasetProfile,
    window: DatasetProfile,
    window_values: Mapping[str, FloatArray] | None = None,
    config: DriftConfig | None = None,
) -> DatasetDrift:
    """Per-column drift of ``window`` (observed on ``reference``) and the dataset verdict."""
    config = config or DriftConfig()
    absent = [name for name in reference.columns if name not in window.columns]
    if absent:
        raise InvalidArgument(f"window profile lacks columns {absent}; build it with observe()")
    kinds = {kind_of(col) for col in reference.columns.values()}
    tests = {kind: config.tests_for(kind) for kind in sorted(kinds)}  # unknown names raise here
    if window.rows == 0:
        empty = {
            name: _decide(name, kind_of(ref), ref, window.columns[name], {}, {}, config)
            for name, ref in reference.columns.items()
        }
        columns = {k: replace(v, reason="empty window") for k, v in empty.items()}
        return DatasetDrift(columns, False, [], config.correction, config.alpha, 0)
    exact = window_values if window.rows <= config.exact_max_rows else None
    results: dict[str, dict[str, TestOutcome]] = {}
    family: list[tuple[str, str]] = []
    raw: list[float] = []
    for name, ref in reference.columns.items():
        win = window.columns[name]
        res = _run(name, ref, win, _values_for(name, win, exact), tests[kind_of(ref)])
        results[name] = res
        p_primary = _p(res.get(config.primary[kind_of(ref)]))
        if p_primary is not None:
            family.append((name, "primary"))
            raw.append(p_primary)
        p_missing = _p(res.get("missing"))
        if p_missing is not None and (ref.missing > 0 or win.missing > 0):
            family.append((name, "missing"))
            raw.append(p_missing)
    adjusted_p = adjust(np.asarray(raw, dtype=np.float64), config.correction)
    adjusted = {key: float(p) for key, p in zip(family, adjusted_p, strict=True)}
    columns = {
        name: _decide(
            name, kind_of(ref), ref, window.columns[name], results[name], adjusted, config
        )
        for name, ref in reference.columns.items()
    }
    drifted = [name for name, col in columns.items() if col.drift]
    return DatasetDrift(
        columns=columns,
        drift=bool(drifted),
        drifted=drifted,
        correction=config.correction,
        alpha=config.alpha,
        n_rows=window.rows,
    )
