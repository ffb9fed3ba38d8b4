"""Response helpers shared by the protocol routes: errors in each protocol's shape, and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from shipyard.core.errors import Conflict, ModelFailure, SchemaError, ShipyardError, Unavailable
from shipyard.interfaces.http.errors import mlflow_code, status_of
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.state import ServerState, server_state
from shipyard.serving.dataplane import InferResult

log = logging.getLogger("shipyard.http")
JSON = "application/json"
WARNING_HEADER = "x-shipyard-warning"
"""Set when the server changed a request to accept it (MLflow leniency); one header per change."""

PredictHandler = Callable[[Request, ServerState, str], Awaitable[tuple[Response, InferResult]]]


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def error_response(exc: ShipyardError, protocol: str, rid: str) -> Response:
    status = status_of(exc)
    headers = (
        {"Retry-After": str(max(1, round(exc.retry_after)))}
        if isinstance(exc, Unavailable) and exc.retry_after is not None
        else None
    )
    if protocol == "mlflow":
        body: dict[str, object] = {"error_code": mlflow_code(exc), "message": str(exc)}
    else:
        body = {"error": str(exc), "type": type(exc).__name__, "request_id": rid}
        if isinstance(exc, SchemaError) and exc.field:
            body["field"] = exc.field
        if isinstance(exc, Conflict) and exc.current_revision is not None:
            body["current_revision"] = exc.current_revision
    return json_response(body, status, headers)


def header_text(text: str) -> str:
    """``text`` as a safe header value: ASCII (others escaped), one line, bounded."""
    flat = " ".join(text.split())
    return flat.encode("ascii", "backslashreplace").decode("ascii")[:512]


def protocol_of(path: str) -> str:
    """Which protocol's error shape a path answers in (MLflow clients parse their own)."""
    return "mlflow" if path.endswith("/invocations") else "native"


async def shipyard_error(request: Request, exc: Exception) -> Response:
    """The app's one handler: every ``ShipyardError`` a route raises becomes its response here."""
    assert isinstance(exc, ShipyardError)
    rid = request_id(request.scope)
    response = error_response(exc, protocol_of(request.url.path), rid)
    if response.status_code >= 500:
        log.error("request %s %s failed: %s: %s", rid, request.url.path, type(exc).__name__, exc)
    return response


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-request: nobody reads this answer, and it is not our error."""
    log.debug("request %s: client disconnected", request_id(request.scope))
    return Response(status_code=499)


def model_headers(result: InferResult) -> dict[str, str]:
    return {"x-model-name": result.loaded.version.name, "x-model-version": str(result.version)}


def prediction_route(
    protocol: str, handler: PredictHandler
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a protocol handler: errors -> responses, and request metrics by endpoint/version/code."""

    async def endpoint(request: Request) -> Response:
        state = server_state(request)
        rid = request_id(request.scope)
        name = request.path_params.get("model") or state.default_endpoint() or "unknown"
        label = name if name in state.dataplane.endpoints else "unknown"
        in_flight = state.metrics.in_flight.labels(label)
        in_flight.inc()
        started = time.perf_counter()
        version = ""
        try:
            try:
                response, result = await handler(request, state, name)
                version = str(result.version)
                if result.shadows:  # mirrored after the response is sent, never delaying it
                    response.background = BackgroundTask(state.dataplane.run_shadows, result, rid)
            except ClientDisconnect:  # neither the model's error nor ours: not counted
                log.debug("request %s to %s: client disconnected", rid, name)
                return Response(status_code=499)
            except ShipyardError as exc:
                response = error_response(exc, protocol, rid)
                if isinstance(exc, ModelFailure) and exc.version is not None:  # who answered
                    version = str(exc.version)
                    response.headers["x-model-name"] = exc.model or ""
                    response.headers["x-model-version"] = version
                if response.status_code == 500:
                    log.error("request %s to %s failed: %s: %s", rid, name, type(exc).__name__, exc)
            except Exception as exc:  # a bug of ours: answer 500 with the id, keep serving
                log.exception("request %s to %s failed unexpectedly", rid, name)
                response = error_response(
                    ShipyardError(f"internal error {type(exc).__name__} (request id {rid})"),
                    protocol,
                    rid,
                )
        finally:
            in_flight.dec()
        state.metrics.requests.labels(label, version, protocol, str(response.status_code)).inc()
        state.metrics.request_seconds.labels(label, version, protocol).observe(
            time.perf_counter() - started
        )
        return response

    return endpoint
