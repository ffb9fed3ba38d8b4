"""The prediction log record and its Arrow layout.

One ``PredictionEvent`` is what the model server hands over after answering one request (or after
a shadow answered a mirrored copy). ``events_to_table`` turns a batch of events into one Arrow table
with **one row per predicted row**:

=================  ==========================  ==============================================
column             Arrow type                  meaning
=================  ==========================  ==============================================
request_id         string                      the request id (shared by primary and shadows)
row                int32                       index of the row within its request
ts                 timestamp[us, tz=UTC]       when the request was answered
endpoint, model    string                      the deployment and the registered model name
version            int32                       the model version that answered
route              string                      ``primary``, ``shadow`` or ``batch``
status             string                      ``ok`` or ``error``
latency_ms         float32                     the request's latency, repeated on each row
error              string                      the error message, null when ok
in.<column>        the column's own type       tabular input (numeric, bool, string, ...)
in.f0 .. in.fN     the tensor's type           a 2-D tensor input, one column per feature
in.tensor          list<...> (nested)          a tensor input of more than 2 dimensions
out.prediction     typed (list when 2-D+)      the model output
out.proba.<class>  float64                     one probability column per class
xp.<column>        float64                     attribution of an input column (sampled rows)
xp.base            float64                     the base value of that explanation
=================  ==========================  ==============================================

An event without inputs or outputs (an error before validation) still takes one row, with null
inputs and outputs; an error event with inputs keeps its input rows (useful to debug the failure).
Events whose inputs have different columns can share a batch: missing columns are null; a column
whose types differ is widened (int + float -> float), or stored as text when they cannot be unified.
Missing values: NaN in a DataFrame column is null (the pandas convention); NaN in a numpy tensor or
in the predictions stays NaN.

Conversion is vectorised: events are grouped by the shape of their payload (same input columns and
dtypes, same output dtype, same classes), each group's frames/arrays are concatenated once and
converted column by column; nothing loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidArgument

BASE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("version", pa.int32()),
        ("route", pa.string()),
        ("status", pa.string()),
        ("latency_ms", pa.float32()),
        ("error", pa.string()),
    ]
)
BASE_COLUMNS: tuple[str, ...] = tuple(BASE_SCHEMA.names)
PREDICTION_COLUMN = "out.prediction"
SHADOW = "shadow"
"""The route of a mirrored call: its answer is logged, never returned."""
SERVED_ROUTES: tuple[str, ...] = ("primary", "batch")
"""Routes whose answers reached a caller (online or a batch job): what monitoring looks at."""
PROBA_PREFIX = "out.proba."
INPUT_PREFIX = "in."
EXPLAIN_PREFIX = "xp."
EXPLAIN_BASE = "xp.base"


@dataclass(frozen=True, slots=True)
class PredictionEvent:
    """One answered (or failed) request, as handed to the log writer.

    ``inputs`` is the already-validated model input (one row per predicted row): a DataFrame with
    typed columns for tabular models, a 2-D (or higher) numpy array for tensor models.
    ``probabilities`` has shape (rows, len(classes)). The event is not copied: the caller must not
    mutate the arrays after handing it over.
    """

    request_id: str
    ts: float
    endpoint: str
    model: str
    version: int
    route: str
    status: str
    latency_ms: float
    inputs: pd.DataFrame | npt.NDArray[Any] | None = None
    predictions: npt.NDArray[Any] | None = None
    probabilities: npt.NDArray[Any] | None = None
    classes: tuple[Any, ...] | None = None
    error: str | None = None
    attributions: pd.DataFrame | None = None
    """One column per input column plus ``base``, for explained requests (``--explain-sample``)."""
    row_ids: Sequence[str] | None = None
    """One request id per row (batch scoring with an id column): row i is logged as request
    ``row_ids[i]``, row 0, so labels join by that key. None: every row is ``request_id``."""

    @property
    def rows(self) -> int:
        """Rows this event takes in the log (at least one)."""
        return max(_length(self.inputs), _length(self.predictions), 1)


def _length(value: pd.DataFrame | npt.NDArray[Any] | None) -> int:
    if value is None:
        return 0
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return 1
    return len(value)


# -- grouping -----------------------------------------------------------------------------------


def _input_key(inputs: pd.DataFrame | npt.NDArray[Any] | None) -> Hashable:
    if inputs is None or _length(inputs) == 0:
        return None
    if isinstance(inputs, pd.DataFrame):
        # Neither dtypes nor column names (reading either costs 100-300 us a frame with pandas'
        # string columns, which is most of a flush): the group key names the model version, whose
        # signature fixes the columns; pd.concat aligns any that differ by name and widens dtypes.
        return "frame"
    return ("tensor", inputs.dtype.str, tuple(np.shape(inputs)[1:]))


def _array_key(values: npt.NDArray[Any] | None) -> Hashable:
    if values is None or _length(values) == 0:
        return None
    return (values.dtype.str, tuple(np.shape(values)[1:]))


def _group_key(event: PredictionEvent) -> Hashable:
    proba = event.probabilities
    proba_key = (
        None if proba is None or _length(proba) == 0 else (np.shape(proba)[1:], event.classes)
    )
    explained = None if event.attributions is None else tuple(event.attributions.columns)
    return (
        event.model,
        event.version,
        _input_key(event.inputs),
        _array_key(event.predictions),
        proba_key,
        explained,
    )


# -- conversion ---------------------------------------------------------------------------------


def _normalise_type(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """One Arrow type per logical type, so that segments and batches concatenate cleanly."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        arr = arr.cast(pa.string())
    elif pa.types.is_large_binary(t):
        arr = arr.cast(pa.binary())
    return arr


def _series_to_arrow(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # A column of mixed Python objects: keep it, as text.
        arr = pa.array(
            series.map(lambda v: None if v is None or v is pd.NA else str(v)), pa.string()
        )
    return _normalise_type(arr)


def _numpy_to_arrow(values: npt.NDArray[Any]) -> pa.Array:
    """A numpy array of shape (rows, ...) as an Arrow array: scalars, or nested lists per row."""
    if values.ndim <= 1:
        flat = values.reshape(-1)
        try:
            return _normalise_type(pa.array(flat, from_pandas=values.dtype.kind == "O"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return pa.array([None if v is None else str(v) for v in flat], pa.string())
    arr = _numpy_to_arrow(np.ascontiguousarray(values).reshape(-1))
    for width in reversed(values.shape[1:]):
        offsets = np.arange(0, len(arr) + 1, width, dtype=np.int32)
        arr = pa.ListArray.from_arrays(pa.array(offsets), arr)
    return arr


def _input_columns(group: list[PredictionEvent], total: int) -> dict[str, pa.Array]:
    first = group[0].inputs
    if first is None or _length(first) == 0:
        return {}
    if isinstance(first, pd.DataFrame):
        frames = [e.inputs for e in group if isinstance(e.inputs, pd.DataFrame)]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        if len(frame) != total:
            raise InvalidArgument("inputs and predictions of an event have different row counts")
        return {
            f"{INPUT_PREFIX}{col}": _series_to_arrow(frame.iloc[:, i])
            for i, col in enumerate(frame.columns)
        }
    tensors = [np.asarray(e.inputs) for e in group]
    tensor = tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
    if tensor.ndim <= 1:
        tensor = tensor.reshape(-1, 1)
    if len(tensor) != total:
        raise InvalidArgument("inputs and predictions of an event have different row counts")
    if tensor.ndim == 2:
        return {
            f"{INPUT_PREFIX}f{j}": _numpy_to_arrow(tensor[:, j]) for j in range(tensor.shape[1])
        }
    return {f"{INPUT_PREFIX}tensor": _numpy_to_arrow(tensor)}


def _output_columns(group: list[PredictionEvent], total: int) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    preds = [e.predictions for e in group if e.predictions is not None and _length(e.predictions)]
    if len(preds) == len(group):
        values = preds[0] if len(preds) == 1 else np.concatenate(preds)
        if values.ndim == 0:
            values = values.reshape(1)
        if len(values) != total:
            raise InvalidArgument("inputs and predictions of an event have different row counts")
        out[PREDICTION_COLUMN] = _numpy_to_arrow(values)
    else:
        out[PREDICTION_COLUMN] = pa.nulls(total)
    probas = [
        e.probabilities for e in group if e.probabilities is not None and _length(e.probabilities)
    ]
    if probas and len(probas) == len(group):
        proba = np.asarray(
            probas[0] if len(probas) == 1 else np.concatenate(probas), dtype=np.float64
        )
        proba = proba.reshape(len(proba), -1)
        if len(proba) != total:
            raise InvalidArgument(
                "probabilities and predictions of an event have different row counts"
            )
        classes = group[0].classes
        if classes is None:
            classes = tuple(range(proba.shape[1]))
        if len(classes) != proba.shape[1]:
            raise InvalidArgument(
                f"{proba.shape[1]} probability columns for {len(classes)} classes"
            )
        for j, cls in enumerate(classes):
            out[f"{PROBA_PREFIX}{cls}"] = pa.array(proba[:, j])
    return out


def _group_table(group: list[PredictionEvent]) -> pa.Table:
    counts = np.fromiter((e.rows for e in group), dtype=np.int64, count=len(group))
    total = int(counts.sum())
    take = pa.array(np.repeat(np.arange(len(group), dtype=np.int64), counts))
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    row = (np.arange(total, dtype=np.int64) - starts).astype(np.int32)
    ts_us = np.rint(np.fromiter((e.ts for e in group), dtype=np.float64, count=len(group)) * 1e6)

    def per_event(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
        return pa.array(values, type_).take(take)

    request_ids = per_event([e.request_id for e in group], pa.string())
    if any(e.row_ids is not None for e in group):
        ids = [
            pa.array(e.row_ids, pa.string())
            if e.row_ids is not None
            else pa.array([e.request_id] * e.rows, pa.string())
            for e in group
        ]
        request_ids = pa.concat_arrays(ids)
        own = np.repeat([e.row_ids is not None for e in group], counts)
        row = np.where(own, 0, row).astype(np.int32)

    columns: dict[str, pa.Array] = {
        "request_id": request_ids,
        "row": pa.array(row, pa.int32()),
        "ts": pa.array(ts_us.astype(np.int64), pa.timestamp("us", tz="UTC")).take(take),
        "endpoint": per_event([e.endpoint for e in group], pa.string()),
        "model": per_event([e.model for e in group], pa.string()),
        "version": per_event([e.version for e in group], pa.int32()),
        "route": per_event([e.route for e in group], pa.string()),
        "status": per_event([e.status for e in group], pa.string()),
        "latency_ms": per_event([e.latency_ms for e in group], pa.float32()),
        "error": per_event([e.error for e in group], pa.string()),
    }
    columns.update(_input_columns(group, total))
    columns.update(_output_columns(group, total))
    columns.update(_explanation_columns(group, total))
    return pa.table(columns)


def _explanation_columns(group: list[PredictionEvent], total: int) -> dict[str, pa.Array]:
    frames = [e.attributions for e in group if e.attributions is not None]
    if not frames or len(frames) != len(group):
        return {}
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(frame) != total:
        raise InvalidArgument("attributions and predictions of an event have different row counts")
    return {
        f"{EXPLAIN_PREFIX}{col}": pa.array(frame.iloc[:, i].to_numpy(dtype=np.float64))
        for i, col in enumerate(frame.columns)
    }


def _unifiable(name: str, found: set[pa.DataType]) -> bool:
    if len(found) == 1:
        return True
    try:
        pa.unify_schemas([pa.schema([(name, t)]) for t in found], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


def _concat(parts: list[pa.Table]) -> pa.Table:
    """Concatenate tables of different columns/types: missing columns are null, types widened;
    a column whose types cannot be unified (e.g. int in one part, text in another) becomes text."""
    if len(parts) == 1:
        return parts[0]
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    types: dict[str, set[pa.DataType]] = {}
    for part in parts:
        for field in part.schema:
            if not pa.types.is_null(field.type):
                types.setdefault(field.name, set()).add(field.type)
    conflicting = {name for name, found in types.items() if not _unifiable(name, found)}
    fixed = []
    for part in parts:
        for name in conflicting & set(part.column_names):
            i = part.schema.get_field_index(name)
            col = part.column(i)
            try:
                col = col.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                col = pa.nulls(len(col), pa.string())
            part = part.set_column(i, pa.field(name, pa.string()), col)
        fixed.append(part)
    return pa.concat_tables(fixed, promote_options="permissive")


def _ordered(table: pa.Table) -> pa.Table:
    names = table.column_names
    inputs = [n for n in names if n.startswith(INPUT_PREFIX)]
    outputs = [n for n in names if n == PREDICTION_COLUMN] + [
        n for n in names if n.startswith(PROBA_PREFIX)
    ]
    explained = [n for n in names if n.startswith(EXPLAIN_PREFIX)]
    return table.select([*BASE_COLUMNS, *inputs, *outputs, *explained])


def empty_table() -> pa.Table:
    return pa.table(
        {**{f.name: pa.array([], f.type) for f in BASE_SCHEMA}, PREDICTION_COLUMN: pa.nulls(0)}
    )


def events_to_table(events: Sequence[PredictionEvent]) -> pa.Table:
    """One Arrow table, one row per predicted row, for a batch of events (see the module doc)."""
    if not events:
        return empty_table()
    groups: dict[Hashable, list[PredictionEvent]] = {}
    for event in events:
        groups.setdefault(_group_key(event), []).append(event)
    return _ordered(_concat([_group_table(g) for g in groups.values()]))


__all__ = [
    "BASE_COLUMNS",
    "BASE_SCHEMA",
    "SERVED_ROUTES",
    "SHADOW",
    "PredictionEvent",
    "empty_table",
    "events_to_table",
]
