"""Drift: stat tests as plugins, multiple-testing corrections, and the dataset verdict."""

from shipyard.stats.drift.base import (
    NO_DATA,
    StatTest,
    StatTestHooks,
    TestOutcome,
    installed_stattests,
    stattest_named,
)
from shipyard.stats.drift.correction import adjust, benjamini_hochberg, holm
from shipyard.stats.drift.verdict import ColumnDrift, DatasetDrift, DriftConfig, compare

__all__ = [
    "NO_DATA",
    "ColumnDrift",
    "DatasetDrift",
    "DriftConfig",
    "StatTest",
    "StatTestHooks",
    "TestOutcome",
    "adjust",
    "benjamini_hochberg",
    "compare",
    "holm",
    "installed_stattests",
    "stattest_named",
]
