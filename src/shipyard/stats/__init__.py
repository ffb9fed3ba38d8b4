"""Pure numerics: profiles, sketches, statistical tests and metrics. No I/O."""

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
