"""Shipyard's own JSON route for people: records or columns in, predictions and probabilities out.

Request: ``{"records": [{...}, ...]}``, ``{"columns": {"age": [..], ...}}``, ``{"inputs": [[...]]}``
(tensor models), or a bare list of records.
Response: ``{"model", "version", "request_id", "predictions", "probabilities"?, "classes"?}``;
predictions of any dtype (strings, booleans, datetimes), NaN written as ``null``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from shipyard.core.errors import InvalidArgument
from shipyard.serving.codecs.jsonable import dumps, json_values

KEYS = ("records", "columns", "inputs")


def decode(body: bytes) -> object:
    return decode_document(parse(body))


def parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc


def decode_document(doc: Any) -> object:
    """Model input from a parsed body (see the module doc for the accepted shapes)."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise InvalidArgument(
            "the body must be a list of records or an object with 'records', 'columns' or 'inputs'"
        )
    present = [k for k in KEYS if k in doc]
    if len(present) != 1:
        raise InvalidArgument(
            f"the body must have exactly one of 'records', 'columns', 'inputs'; got keys {sorted(doc)}"
        )
    value = doc[present[0]]
    if present[0] == "records" and not isinstance(value, list):
        raise InvalidArgument("'records' must be a list of objects")
    if present[0] == "columns" and not isinstance(value, dict):
        raise InvalidArgument("'columns' must be an object mapping column names to lists")
    if present[0] == "inputs":
        try:
            return np.asarray(value)
        except ValueError as exc:
            raise InvalidArgument(f"'inputs' is not a rectangular array: {exc}") from exc
    return value


def encode(
    *,
    model: str,
    version: int,
    request_id: str,
    predictions: npt.NDArray[Any],
    probabilities: npt.NDArray[Any] | None,
    classes: Sequence[Any] | None,
) -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "version": version,
        "request_id": request_id,
        "predictions": json_values(predictions),
    }
    if probabilities is not None:
        body["probabilities"] = json_values(probabilities)
        body["classes"] = json_values(list(classes or ()))
    return dumps(body)


def encode_request(data: object) -> bytes:
    """The body a client sends for ``data`` (DataFrame, records, dict of columns or array)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return orjson.dumps({"columns": {str(k): data[k].tolist() for k in data.columns}})
    if isinstance(data, np.ndarray):
        return orjson.dumps({"inputs": data}, option=orjson.OPT_SERIALIZE_NUMPY)
    if isinstance(data, dict):
        return orjson.dumps({"columns": data}, option=orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps({"records": data}, option=orjson.OPT_SERIALIZE_NUMPY)
