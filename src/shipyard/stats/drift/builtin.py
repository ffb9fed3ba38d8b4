"""The built-in stat tests, registered through the same hook as any plugin.

Order matters only for name clashes: ``base.stattest_named`` returns the first test with a name, and
plugins registered later (installed ones) are asked first, so they can replace a built-in.
"""

from __future__ import annotations

from shipyard.core.plugins import hookimpl
from shipyard.stats.drift.base import StatTest
from shipyard.stats.drift.chisquare import ChiSquare
from shipyard.stats.drift.jensenshannon import JensenShannon
from shipyard.stats.drift.ks import KolmogorovSmirnov
from shipyard.stats.drift.missing import MissingShare
from shipyard.stats.drift.psi import PSI
from shipyard.stats.drift.wasserstein import Wasserstein


@hookimpl
def shipyard_stattests() -> list[StatTest]:
    return [
        KolmogorovSmirnov(),
        ChiSquare(),
        PSI(),
        Wasserstein(),
        JensenShannon(),
        MissingShare(),
    ]
