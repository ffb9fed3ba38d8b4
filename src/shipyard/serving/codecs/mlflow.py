"""MLflow scoring-server formats (``POST /invocations``), so an MLflow client only changes its URL.

JSON bodies carry exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs`` (plus optional ``params``); CSV bodies are a table with a header row. The response is
``{"predictions": [...]}``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pandas as pd

from shipyard.core.errors import InvalidArgument, UnsupportedMediaType

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> tuple[object, dict[str, Any]]:
    """The model input and the ``params`` of an invocations request."""
    kind = media_type(content_type)
    if kind in ("text/csv", "application/csv"):
        try:
            return pd.read_csv(io.BytesIO(body)), {}
        except (ValueError, pd.errors.ParserError) as exc:
            raise InvalidArgument(f"the CSV body cannot be parsed: {exc}") from exc
    if kind not in ("", "application/json", "application/octet-stream"):
        raise UnsupportedMediaType(
            f"content type {kind!r} is not supported; use application/json or text/csv"
        )
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
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidArgument("'params' must be an object")
    key = present[0]
    value = doc[key]
    if key == "dataframe_split":
        return _split(value), params
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidArgument("'dataframe_records' must be a list of objects")
        return value, params
    return _instances(key, value), params


def _split(value: Any) -> pd.DataFrame:
    if not isinstance(value, dict) or "data" not in value:
        raise InvalidArgument("'dataframe_split' must be an object with 'columns' and 'data'")
    data, columns = value["data"], value.get("columns")
    if not isinstance(data, list) or (columns is not None and not isinstance(columns, list)):
        raise InvalidArgument("'dataframe_split': 'data' must be a list of rows, 'columns' a list")
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
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise InvalidArgument(f"'{key}' is not a rectangular array: {exc}") from exc


def encode(predictions: np.ndarray[Any, Any]) -> bytes:
    return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)
