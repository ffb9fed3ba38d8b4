"""Shipyard's JSON routes for people: ``POST /v1/models/{model}/predict`` and ``/explain``.

KServe's ``POST /v1/models/{model}:explain`` is the same explain handler: both go through
``prediction_route`` (errors, request metrics) and ``DataPlane.explain`` (routing, validation, log).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.responses import model_headers, prediction_route
from shipyard.interfaces.http.state import ServerState
from shipyard.serving.codecs import explain as explain_codec
from shipyard.serving.codecs import native
from shipyard.serving.dataplane import InferResult


async def _predict(request: Request, state: ServerState, name: str) -> tuple[Response, InferResult]:
    body = await read_body(request, state.config.max_body_bytes, state.config.body_timeout)
    data = native.decode(body)
    proba = request.query_params.get("probabilities", "true").lower() not in ("0", "false", "no")
    rid = request_id(request.scope)
    result = await state.dataplane.infer(
        name, data, want_proba=proba, request_id=rid, headers=request.headers
    )
    pred = result.prediction
    out = native.encode(
        model=name,
        version=result.version,
        request_id=rid,
        predictions=pred.predictions,
        probabilities=pred.probabilities if proba else None,
        classes=result.loaded.model.classes,
    )
    return Response(out, media_type="application/json", headers=model_headers(result)), result


async def _explain(request: Request, state: ServerState, name: str) -> tuple[Response, InferResult]:
    body = await read_body(request, state.config.max_body_bytes)
    data, target = explain_codec.decode(body)
    rid = request_id(request.scope)
    result = await state.dataplane.explain(
        name, data, target=target, request_id=rid, headers=request.headers
    )
    assert result.explanation is not None
    out = explain_codec.encode(
        model=name, version=result.version, request_id=rid, explanation=result.explanation
    )
    return Response(out, media_type="application/json", headers=model_headers(result)), result


predict = prediction_route("native", _predict)
explain = prediction_route("explain", _explain)

routes = [
    Route("/v1/models/{model}/predict", predict, methods=["POST"]),
    Route("/v1/models/{model}/explain", explain, methods=["POST"]),
    Route("/v1/models/{model}:explain", explain, methods=["POST"]),
]
