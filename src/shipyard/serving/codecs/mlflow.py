"""MLflow scoring-server formats (``POST /invocations``), so an MLflow client only changes its URL.

JSON bodies carry exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs`` (plus optional ``params``); CSV bodies are a table with a header row, read with the
signature's types; Parquet bodies (``application/vnd.apache.parquet``) are decoded by pyarrow. The
response is ``{"predictions": [...]}``, any dtype, NaN as ``null``.

Like mlflow, and unlike Shipyard's other routes, the MLflow route is lenient unless ``strict``:
columns the signature does not name are dropped and a ``params`` that is not an object is ignored,
each with a warning the route reports. A model taking one tensor also accepts records and tables
keyed by position (``{"0": .., "1": ..}``), as mlflow does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from shipyard.core.errors import InvalidArgument, SchemaError, UnsupportedMediaType
from shipyard.package.signature import Signature
from shipyard.serving.codecs.jsonable import dumps, json_values
from shipyard.serving.codecs.tables import read_csv, read_parquet

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPES = ("", "application/json", "application/octet-stream")
CSV_TYPES = ("text/csv", "application/csv")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")


@dataclass(frozen=True)
class Invocation:
    """A decoded invocations request: the model input, and what leniency changed in it."""

    data: object
    warnings: tuple[str, ...] = ()


def media_type(content_type: str | None) -> str:
    """The media type, lower-cased; a ``charset`` other than UTF-8 or any other parameter is 415."""
    kind, _, rest = (content_type or "").partition(";")
    for part in rest.split(";"):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if key != "charset":
            raise UnsupportedMediaType(
                f"content type parameter {key!r} is not supported (MLflow 2 removed the "
                "'format' parameters: wrap the data in dataframe_split or dataframe_records)"
            )
        if value not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"charset {value!r} is not supported; send UTF-8")
    return kind.strip().lower()


def decode(
    body: bytes, content_type: str | None, signature: Signature, *, strict: bool = False
) -> Invocation:
    """The model input of an invocations request, shaped for ``signature``."""
    kind = media_type(content_type)
    warnings: list[str] = []
    data: object
    if kind in CSV_TYPES:
        data = read_csv(body, signature)
    elif kind in PARQUET_TYPES:
        data = read_parquet(body)
    elif kind in JSON_TYPES:
        data = _decode_json(body, signature, strict, warnings)
    else:
        raise UnsupportedMediaType(
            f"content type {kind!r} is not supported; use application/json, text/csv or "
            f"{PARQUET_TYPES[0]}"
        )
    if signature.kind == "tensor":
        return Invocation(_as_tensor(data), tuple(warnings))
    if not strict:
        data = _drop_unknown_columns(data, signature, warnings)
    return Invocation(data, tuple(warnings))


def _decode_json(body: bytes, signature: Signature, strict: bool, warnings: list[str]) -> object:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"the JSON body must be an object with one of: {', '.join(FORMATS)}")
    present = [k for k in FORMATS if k in doc]
    if len(present) != 1:
        extra = sorted(set(doc) - {"params"})
        raise InvalidArgument(
            f"the JSON body must have exactly one of {', '.join(FORMATS)}; got keys {extra}"
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        if strict:
            raise InvalidArgument("'params' must be an object")
        warnings.append(f"'params' is not an object ({type(params).__name__}); ignored")
    elif params:
        warnings.append(
            f"params {', '.join(map(repr, sorted(params)))} ignored: Shipyard models take no "
            "inference parameters"
        )
    key = present[0]
    value = doc[key]
    if key == "dataframe_split":
        return _split(value, signature)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidArgument("'dataframe_records' must be a list of objects")
        return value
    return _instances(key, value)


def _split(value: Any, signature: Signature) -> object:
    if not isinstance(value, dict) or "data" not in value:
        raise InvalidArgument("'dataframe_split' must be an object with 'columns' and 'data'")
    data, columns = value["data"], value.get("columns")
    if not isinstance(data, list) or (columns is not None and not isinstance(columns, list)):
        raise InvalidArgument("'dataframe_split': 'data' must be a list of rows, 'columns' a list")
    if columns is not None:
        names = [str(c) for c in columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidArgument(f"'dataframe_split': column {twice[0]!r} appears more than once")
    elif signature.kind == "columns":
        return _array(data, "dataframe_split.data")  # unnamed columns: by position
    try:
        return pd.DataFrame(data=data, columns=columns, index=value.get("index"))
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"'dataframe_split' does not form a table: {exc}") from exc


def _instances(key: str, value: Any) -> object:
    if isinstance(value, dict):
        return value  # named columns (or tensors)
    if not isinstance(value, list):
        raise InvalidArgument(f"'{key}' must be a list of rows or an object of columns")
    if value and all(isinstance(v, dict) for v in value):
        return value
    return _array(value, key)


def _array(value: Any, key: str) -> npt.NDArray[Any]:
    try:
        arr = np.asarray(value)
        if arr.dtype.kind in "US" and not _all_strings(value):
            arr = np.asarray(value, dtype=object)  # mixed rows: keep each value's own type
    except ValueError as exc:
        raise InvalidArgument(f"'{key}' is not a rectangular array: {exc}") from exc
    return arr


def _all_strings(value: Any) -> bool:
    if isinstance(value, list):
        return all(_all_strings(v) for v in value)
    return isinstance(value, str)


# -- tensor models ----------------------------------------------------------------------------------


def _as_tensor(data: object) -> object:
    """Records and tables keyed by position (``"0"``, ``"1"``, ...) as one 2-D array."""
    if isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns]
        if all(n.isdigit() for n in names):
            order = sorted(range(len(names)), key=lambda i: int(names[i]))
            return data.iloc[:, order].to_numpy()
        return data.to_numpy()
    if isinstance(data, Mapping):
        if len(data) != 1:
            raise SchemaError(
                f"this model takes one tensor; got named inputs {', '.join(map(str, data))}"
            )
        return next(iter(data.values()))
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return _records_by_position(data)
    return data


def _records_by_position(rows: list[Mapping[str, Any]]) -> list[list[Any]]:
    keys = [str(k) for k in rows[0]]
    if not all(k.isdigit() for k in keys) or sorted(map(int, keys)) != list(range(len(keys))):
        raise SchemaError(
            "this model takes one tensor: key records by position ('0', '1', ...); "
            f"got keys {', '.join(map(repr, keys[:5]))}"
        )
    width = len(keys)
    out = []
    for i, row in enumerate(rows):
        if len(row) != width:
            raise SchemaError(f"record {i} has {len(row)} values; record 0 has {width}")
        try:
            out.append([row[str(j)] for j in range(width)])
        except KeyError as exc:
            raise SchemaError(f"record {i} has no position {exc.args[0]}") from exc
    return out


# -- mlflow's leniency ------------------------------------------------------------------------------


def _drop_unknown_columns(data: object, signature: Signature, warnings: list[str]) -> object:
    known = set(signature.column_names)
    if isinstance(data, pd.DataFrame):
        extra = [str(c) for c in data.columns if str(c) not in known]
        if extra:
            data = data[[c for c in data.columns if str(c) in known]]
    elif isinstance(data, Mapping):
        extra = [str(k) for k in data if str(k) not in known]
        if extra:
            data = {k: v for k, v in data.items() if str(k) in known}
    elif isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        seen: dict[str, None] = {}
        for row in data:
            for k in row:
                if k not in known:
                    seen[str(k)] = None
        extra = list(seen)
        if extra:
            data = [{k: v for k, v in row.items() if k in known} for row in data]
    else:
        return data
    if extra:
        warnings.append(f"dropped columns the signature does not name: {', '.join(extra)}")
    return data


def encode(predictions: npt.NDArray[Any]) -> bytes:
    return dumps({"predictions": json_values(predictions)})
