"""MLflow scoring-server routes: ``/invocations``, ``/ping``, ``/health``, ``/version``."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shipyard._version import __version__
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.responses import (
    WARNING_HEADER,
    header_text,
    model_headers,
    prediction_route,
)
from shipyard.interfaces.http.state import ServerState, server_state
from shipyard.serving.codecs import mlflow
from shipyard.serving.dataplane import InferResult

log = logging.getLogger("shipyard.http")


def several_endpoints(names: Iterable[str]) -> InvalidArgument:
    """The answer to ``/invocations`` (no endpoint named) when several endpoints are served."""
    return InvalidArgument(
        "several endpoints are served; post to /endpoints/{name}/invocations "
        f"(one of: {', '.join(names)})"
    )


async def _invocations(
    request: Request, state: ServerState, name: str
) -> tuple[Response, InferResult]:
    if "model" not in request.path_params and state.default_endpoint() is None:
        raise several_endpoints(state.dataplane.endpoints)
    body = await read_body(request, state.config.max_body_bytes, state.config.body_timeout)
    loaded = state.dataplane.serving(name)  # routes of one deployment share a signature
    decoded = mlflow.decode(
        body,
        request.headers.get("content-type"),
        loaded.model.signature,
        strict=state.config.strict_mlflow,
    )
    for warning in decoded.warnings:
        log.warning("request %s to %s: %s", request_id(request.scope), name, warning)
    result = await state.dataplane.infer(
        name, decoded.data, request_id=request_id(request.scope), headers=request.headers
    )
    response = Response(
        mlflow.encode(result.prediction.predictions),
        media_type="application/json",
        headers=model_headers(result),
    )
    for warning in decoded.warnings:
        response.headers.append(WARNING_HEADER, header_text(warning))
    return response, result


async def ping(request: Request) -> Response:
    ok = server_state(request).dataplane.ready
    return PlainTextResponse("\n", status_code=200 if ok else 503)


async def version(request: Request) -> Response:
    return PlainTextResponse(__version__)


invocations = prediction_route("mlflow", _invocations)

routes = [
    Route("/invocations", invocations, methods=["POST"]),
    Route("/endpoints/{model}/invocations", invocations, methods=["POST"]),
    Route("/ping", ping, methods=["GET"]),
    Route("/health", ping, methods=["GET"]),
    Route("/version", version, methods=["GET"]),
]
