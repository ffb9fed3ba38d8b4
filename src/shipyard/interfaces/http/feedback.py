"""Ground truth: ``POST /v1/feedback`` with one or many ``{"request_id", "label"}``.

For a request that carried N rows, ``label`` is a list of N labels in row order. Sending a label again
replaces it. Unknown request ids (and lists of the wrong length) are reported in the response.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.core.errors import InvalidArgument, ShipyardError
from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.responses import error_response, json_response
from shipyard.interfaces.http.state import server_state
from shipyard.telemetry.feedback import FeedbackResult


def _items(doc: object) -> list[tuple[str, object]]:
    if isinstance(doc, dict) and "items" in doc:
        doc = doc["items"]
    entries = doc if isinstance(doc, list) else [doc]
    if not entries:
        raise InvalidArgument('send at least one {"request_id", "label"}')
    items: list[tuple[str, object]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "request_id" not in entry or "label" not in entry:
            raise InvalidArgument(f"item {i}: expected an object with 'request_id' and 'label'")
        if not isinstance(entry["request_id"], str) or not entry["request_id"]:
            raise InvalidArgument(f"item {i}: 'request_id' must be a non-empty string")
        items.append((entry["request_id"], entry["label"]))
    return items


async def feedback(request: Request) -> Response:
    state = server_state(request)
    try:
        if state.feedback is None:
            raise InvalidArgument(
                "this server does not keep a prediction log, so it takes no feedback"
            )
        body = await read_body(request, state.config.max_body_bytes)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc
        items = _items(doc)
        store, flush = state.feedback, state.flush_log

        def record() -> FeedbackResult:
            result = store.append(items)
            if not result.unknown_ids or flush is None:
                return result
            # labels for requests answered a moment ago: their predictions may still be queued in
            # memory; flush once and retry only those (no segment per feedback call otherwise)
            flush()
            unknown = set(result.unknown_ids)
            retry = store.append([(rid, label) for rid, label in items if rid in unknown])
            result.accepted += retry.accepted
            result.unknown_ids = retry.unknown_ids
            result.mismatched += retry.mismatched
            result.invalid += retry.invalid
            return result

        result = await asyncio.get_running_loop().run_in_executor(None, record)
    except ShipyardError as exc:
        return error_response(exc, "native", request_id(request.scope))
    return json_response(result.to_dict())


routes = [Route("/v1/feedback", feedback, methods=["POST"])]
