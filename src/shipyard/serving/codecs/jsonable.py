"""Model outputs of any dtype as values the JSON encoder (orjson) can write.

Numeric and boolean arrays go to orjson as they are. Strings, bytes, datetimes and mixed object
arrays become nested lists of plain Python values. JSON has no NaN or infinity: orjson writes them
(and NaT, None, ``pd.NA``) as ``null``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_values(values: object) -> Any:
    """``values`` (array, list or scalar) in a form ``orjson.dumps(..., option=OPTIONS)`` writes."""
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    kind = arr.dtype.kind
    if kind in "biuf":
        return np.ascontiguousarray(arr)
    if kind == "M":  # ISO 8601, seconds at least (pandas' Timestamp.isoformat), NaT as null
        import pandas as pd

        stamps = pd.to_datetime(arr.ravel())
        text = np.array([None if pd.isna(t) else t.isoformat() for t in stamps], dtype=object)
        return _nested(text.reshape(arr.shape))
    if kind == "m":
        seconds = arr.astype("timedelta64[ns]").astype(np.float64) / 1e9
        return np.where(np.isnat(arr), np.nan, seconds)
    return _nested(arr.astype(object, copy=False))


def _nested(arr: npt.NDArray[Any]) -> Any:
    listed = arr.tolist()
    return _plain(listed)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return None if _is_missing(value) else value.isoformat()
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if _is_missing(value):
        return None
    return str(value)


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def dumps(document: object) -> bytes:
    return orjson.dumps(document, option=OPTIONS)
