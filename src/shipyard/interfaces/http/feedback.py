"""Ground truth: ``POST /v1/feedback`` with one or many ``{"request_id", "label"}``.

For a request that carried N rows, ``label`` is a list of N labels in row order. Sending a label again
replaces it only with ``"overwrite": true`` (audited). A label that is not a class seen in training
(classifier) or a finite number (regressor) gets 400 naming the item. Unknown request ids (and lists of the wrong length) are reported in the response.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.core.errors import InvalidArgument, SchemaError
from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.responses import json_response
from shipyard.interfaces.http.state import server_state


def _items(doc: object) -> tuple[list[tuple[str, object]], bool]:
    overwrite = False
    if isinstance(doc, dict) and "items" in doc:
        overwrite = _overwrite(doc)
        doc = doc["items"]
    elif isinstance(doc, dict):
        overwrite = _overwrite(doc)
    entries = doc if isinstance(doc, list) else [doc]
    if not entries:
        raise SchemaError('send at least one {"request_id", "label"}', field="items")
    items: list[tuple[str, object]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "request_id" not in entry or "label" not in entry:
            raise SchemaError(
                f"item {i}: expected an object with 'request_id' and 'label'", field=f"items[{i}]"
            )
        if not isinstance(entry["request_id"], str) or not entry["request_id"]:
            raise SchemaError(
                f"item {i}: 'request_id' must be a non-empty string",
                field=f"items[{i}].request_id",
            )
        overwrite = overwrite or _overwrite(entry)
        items.append((entry["request_id"], entry["label"]))
    return items, overwrite


def _overwrite(doc: dict[str, object]) -> bool:
    value = doc.get("overwrite", False)
    if not isinstance(value, bool):
        raise SchemaError(f"'overwrite' must be true or false, got {value!r}", field="overwrite")
    return value


async def feedback(request: Request) -> Response:
    state = server_state(request)
    if state.feedback is None:
        raise InvalidArgument("this server does not keep a prediction log, so it takes no feedback")
    body = await read_body(request, state.config.max_body_bytes, state.config.body_timeout)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc
    items, overwrite = _items(doc)
    store = state.feedback
    result = await asyncio.get_running_loop().run_in_executor(
        None, lambda: store.append(items, overwrite=overwrite)
    )
    return json_response(result.to_dict())


routes = [Route("/v1/feedback", feedback, methods=["POST"])]
