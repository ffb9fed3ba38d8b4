"""Tables from CSV and Parquet request bodies, read with the signature's types.

CSV is text: every cell is read as a string first, then each column the signature knows is
converted to its type, so a zip code ``"02134"`` stays a string and ``"3.5"`` in an integer column
is refused with its row and column instead of being guessed. Parquet carries its own types and is
decoded by pyarrow straight into a DataFrame.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidArgument, SchemaError
from shipyard.package.signature import FLOAT_TYPES, INTEGER_TYPES, ColumnSpec, Signature

_TRUE = ("true", "1")
_FALSE = ("false", "0")


def read_csv(body: bytes, signature: Signature) -> pd.DataFrame:
    """A CSV body with a header row; an empty cell is a missing value."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"the CSV body is not valid UTF-8 ({exc.reason})") from exc
    header = next(csv.reader(io.StringIO(text)), None)
    if not header:
        raise InvalidArgument("the CSV body is empty; send a header row and at least one row")
    twice = sorted({n for n in header if header.count(n) > 1})
    if twice:
        raise InvalidArgument(f"the CSV header names column {twice[0]!r} more than once")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InvalidArgument(f"the CSV body cannot be parsed: {exc}") from exc
    specs = {c.name: c for c in signature.columns}
    if signature.tensor is not None:  # a tensor model: every column has the tensor's dtype
        specs = {str(n): ColumnSpec(str(n), signature.tensor.dtype) for n in raw.columns}
    return pd.DataFrame(
        {
            name: _typed(raw[name], specs[name]) if name in specs else _text(raw[name])
            for name in raw.columns
        }
    )


def _text(cells: pd.Series) -> pd.Series:
    values = cells.astype(object)
    return values.where(values != "", None)


def _typed(cells: pd.Series, spec: ColumnSpec) -> pd.Series:
    text = cells.astype(object)
    empty = (text == "").to_numpy()
    if spec.dtype in ("string", "datetime"):
        return _text(cells)
    if spec.dtype == "bool":
        lowered = text.str.strip().str.lower()
        valid = lowered.isin(_TRUE + _FALSE).to_numpy() | empty
        _refuse_first(~valid, text, spec, "true or false")
        values = lowered.isin(_TRUE)
        return values.astype(object).where(~empty, None) if empty.any() else values.astype(bool)
    if spec.dtype in INTEGER_TYPES:
        valid = text.str.strip().str.fullmatch(r"[+-]?\d+").fillna(False).to_numpy(dtype=bool)
        _refuse_first(~valid & ~empty, text, spec, "an integer")
        numbers = pd.to_numeric(text.where(~empty, None), errors="coerce")
        return numbers if empty.any() else numbers.astype(np.int64)
    if spec.dtype in FLOAT_TYPES:
        numbers = pd.to_numeric(text.where(~empty, None), errors="coerce")
        parsed = numbers.notna().to_numpy() | empty
        lowered = text.str.strip().str.lower()
        parsed |= lowered.isin(("nan",)).to_numpy()  # NaN is a missing value, like an empty cell
        _refuse_first(~parsed, text, spec, "a number")
        infinite = np.isinf(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        _refuse_first(infinite, text, spec, "a finite number")
        return numbers.astype(np.float64)
    return _text(cells)  # pragma: no cover - every signature dtype is handled above


def _refuse_first(bad: np.ndarray, text: pd.Series, spec: ColumnSpec, expected: str) -> None:
    if not bad.any():
        return
    row = int(np.flatnonzero(bad)[0])
    raise SchemaError(
        f"CSV line {row + 2} (data row {row}), column {spec.name!r}: expected {expected} "
        f"({spec.dtype}), "
        f"got {text.iloc[row]!r:.40}",
        field=spec.name,
    )


def read_parquet(body: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidArgument(f"the body is not a readable Parquet file: {exc}") from exc
    names = table.column_names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidArgument(f"the Parquet file has column {twice[0]!r} more than once")
    frame: pd.DataFrame = table.to_pandas()
    return frame
