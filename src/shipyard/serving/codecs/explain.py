"""Bodies of the explain routes: the native predict formats, or KServe's ``instances``, in;
one explanation per row out.

Request: any body of the native predict route (``records``, ``columns``, ``inputs`` or a bare
list), or KServe's ``{"instances": [...]}`` (rows as objects or as lists in signature order), with
an optional ``"target"``: the class whose output is explained.
Response: ``{"model", "version", "request_id", "method", "exact", "output", "note", "columns",
"explanations": [{"prediction", "base_value", "output_value", "attributions": {column: value},
"explained_class"?}, ...]}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.core.errors import InvalidArgument
from shipyard.package.explanation import Explanation
from shipyard.serving.codecs import native
from shipyard.serving.codecs.jsonable import dumps


def decode(body: bytes) -> tuple[object, object | None]:
    """``(model input, target class or None)``."""
    doc = native.parse(body)
    target = None
    if isinstance(doc, dict):
        target = doc.pop("target", None)
        if isinstance(target, dict | list):
            raise InvalidArgument("'target' must be one class label")
        if "instances" in doc:
            instances = doc.pop("instances")
            if doc:
                raise InvalidArgument(
                    f"a KServe body has 'instances' only (and 'target'); got keys {sorted(doc)}"
                )
            if not isinstance(instances, list) or not instances:
                raise InvalidArgument("'instances' must be a non-empty list of rows")
            if all(isinstance(row, dict) for row in instances):
                return instances, target
            try:
                return np.asarray(instances), target
            except ValueError as exc:
                raise InvalidArgument(f"'instances' is not a rectangular array: {exc}") from exc
    return native.decode_document(doc), target


def encode(*, model: str, version: int, request_id: str, explanation: Explanation) -> bytes:
    body: dict[str, Any] = {"model": model, "version": version, "request_id": request_id}
    body.update(explanation.to_dict())
    return dumps(body)
