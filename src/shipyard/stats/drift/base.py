"""The stat-test interface, its plugin hook, the registry of installed tests, and shared binning.

A stat test compares one column of a window profile with the same column of the reference profile::

    class StatTest(Protocol):
        name: str                      # unique key, e.g. "ks"; configs refer to tests by name
        kinds: tuple[str, ...]         # "numeric" and/or "categorical"
        def compute(self, reference, window, window_values) -> TestOutcome: ...

``window_values`` are the window's raw finite values of a numerical column, passed only when the
window is small (``DriftConfig.exact_max_rows``, default 100,000 rows) so tests that can use raw
data (Kolmogorov-Smirnov, Wasserstein) do; otherwise ``None`` and a test works from the profiles
alone. ``TestOutcome.method`` says how the number was obtained ("exact", "raw", "binned", "sketch",
"no-data"), so a report can tell an exact p-value from an approximation.

Built-in tests live one per module (``psi``, ``ks``, ``wasserstein``, ``jensenshannon``,
``chisquare``, ``missing``) and are registered by ``builtin`` through the very hook third-party
plugins implement (``shipyard_stattests``, found through the ``shipyard`` entry-point group)::

    from shipyard import hookimpl

    @hookimpl
    def shipyard_stattests():
        return [MyTest()]

Plugins registered later are asked first, so an installed plugin can replace a built-in test by
reusing its name: ``stattest_named`` returns the first test with that name.

When a side has nothing to compare (no non-missing value), a test returns ``NO_DATA``: a NaN
statistic, no p-value, method "no-data". The verdict (``verdict.compare``) handles those columns
itself (empty window, all values missing) before looking at such outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import pluggy

from shipyard.core.errors import InvalidArgument
from shipyard.core.plugins import hookspec, plugin_manager
from shipyard.stats.profile import CategoricalProfile, ColumnProfile, NumericProfile

FloatArray = npt.NDArray[np.float64]

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class TestOutcome:
    """One test's result: the statistic, its p-value (None for distances), and how it was computed."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    statistic: float
    p_value: float | None
    method: str

    def to_dict(self) -> dict[str, float | str | None]:
        """Plain JSON types; a NaN statistic becomes None."""
        stat = None if np.isnan(self.statistic) else float(self.statistic)
        return {"statistic": stat, "p_value": self.p_value, "method": self.method}


NO_DATA = TestOutcome(statistic=float("nan"), p_value=None, method="no-data")
"""The outcome of any test when the reference or the window has no value to compare."""


class StatTest(Protocol):
    """A drift test on one column; see the module docstring."""

    name: str
    kinds: tuple[str, ...]

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome: ...


class StatTestHooks:
    @hookspec
    def shipyard_stattests(self) -> list[StatTest]:  # type: ignore[empty-body]
        """Return stat tests to make available. Plugins registered later are asked first."""


def stattest_manager(*extra: object) -> pluggy.PluginManager:
    """A plugin manager for stat tests: the built-ins, ``extra`` plugins, and installed ones."""
    from shipyard.stats.drift import builtin

    return plugin_manager(StatTestHooks, [builtin, *extra])


def stattests_of(pm: pluggy.PluginManager) -> tuple[StatTest, ...]:
    """Every stat test the plugins registered on ``pm`` provide, in hook-call order."""
    found: list[StatTest] = []
    for batch in pm.hook.shipyard_stattests():
        found.extend(batch)
    return tuple(found)


@cache
def installed_stattests() -> tuple[StatTest, ...]:
    """The built-in and installed stat tests (computed once per process)."""
    return stattests_of(stattest_manager())


def stattest_named(name: str, kind: str | None = None) -> StatTest:
    """The first installed test called ``name`` (that handles ``kind``, when given)."""
    for test in installed_stattests():
        if test.name == name:
            if kind is not None and kind not in test.kinds:
                raise InvalidArgument(f"stat test {name!r} does not handle {kind} columns")
            return test
    known = ", ".join(sorted({t.name for t in installed_stattests()}))
    raise InvalidArgument(f"unknown stat test {name!r}; installed stat tests: {known}")


def kind_of(column: ColumnProfile) -> str:
    return NUMERIC if isinstance(column, NumericProfile) else CATEGORICAL


def binned_counts(reference: ColumnProfile, window: ColumnProfile) -> tuple[FloatArray, FloatArray]:
    """Reference and window counts on the same bins, missing values excluded.

    Numerical: the coarse reference-quantile histogram incl. its underflow and overflow bins (the
    reference's own under/overflow are empty but for infinities; a window's hold values outside the
    reference range, the plainest sign of drift). Categorical: the reference's top-K categories,
    then ``other`` (in a window: every value outside the reference's top-K, unseen ones included).
    """
    if isinstance(reference, NumericProfile) and isinstance(window, NumericProfile):
        if reference.histogram.edges != window.histogram.edges:
            raise InvalidArgument("window profile was not observed on the reference's bin edges")
        ref = np.asarray(reference.histogram.counts, dtype=np.float64)
        win = np.asarray(window.histogram.counts, dtype=np.float64)
        return ref, win
    if isinstance(reference, CategoricalProfile) and isinstance(window, CategoricalProfile):
        if reference.categories != window.categories:
            raise InvalidArgument("window profile was not observed on the reference's categories")
        ref = np.asarray([*reference.counts, reference.other], dtype=np.float64)
        win = np.asarray([*window.counts, window.other], dtype=np.float64)
        return ref, win
    raise InvalidArgument("reference and window columns are of different kinds")


def smoothed_shares(counts: FloatArray, epsilon: float) -> FloatArray:
    """Shares ``counts / total`` with empty bins raised to ``epsilon``, renormalised to sum to 1."""
    shares: FloatArray = np.maximum(counts / counts.sum(), epsilon)
    normalised: FloatArray = shares / shares.sum()
    return normalised
