"""Pure numerics: profiles, sketches, statistical tests and metrics. No I/O.

Names are loaded on first use, so importing one submodule does not import numpy and pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.stats.profile import (
        CategoricalProfile,
        ColumnProfile,
        DatasetProfile,
        NumericProfile,
        build_profile,
        numeric_values,
        observe,
        window_profile_batches,
    )

__all__ = [
    "CategoricalProfile",
    "ColumnProfile",
    "DatasetProfile",
    "NumericProfile",
    "build_profile",
    "numeric_values",
    "observe",
    "window_profile_batches",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("shipyard.stats.profile"), name)
    raise AttributeError(f"module 'shipyard.stats' has no attribute {name!r}")
