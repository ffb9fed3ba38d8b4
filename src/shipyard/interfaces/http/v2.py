"""Open Inference Protocol (V2) routes, as KServe, Triton and MLServer clients expect them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard._version import __version__
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.responses import json_response, model_headers, prediction_route
from shipyard.interfaces.http.state import ServerState, server_state
from shipyard.serving.codecs import v2
from shipyard.serving.dataplane import InferResult


def _version(request: Request) -> int | None:
    raw = request.path_params.get("version")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise InvalidArgument(f"model version must be a positive integer, got {raw!r}")
    return int(raw)


async def server_metadata(request: Request) -> Response:
    return json_response(
        {"name": "shipyard", "version": __version__, "extensions": list(v2.EXTENSIONS)}
    )


async def live(request: Request) -> Response:
    return json_response({"live": True})


async def ready(request: Request) -> Response:
    dataplane = server_state(request).dataplane
    if dataplane.ready:
        return json_response({"ready": True})
    return json_response({"ready": False, **dataplane.status()}, status=503)


async def model_metadata(request: Request) -> Response:
    loaded = server_state(request).dataplane.serving(
        request.path_params["model"], _version(request)
    )
    return json_response(
        v2.model_metadata(
            request.path_params["model"], loaded.number, loaded.model.flavor, loaded.model.signature
        )
    )


async def model_ready(request: Request) -> Response:
    name = request.path_params["model"]
    server_state(request).dataplane.serving(name, _version(request))
    return json_response({"name": name, "ready": True})


async def _infer(request: Request, state: ServerState, name: str) -> tuple[Response, InferResult]:
    body = await read_body(request, state.config.max_body_bytes, state.config.body_timeout)
    raw_length = request.headers.get("inference-header-content-length")
    if raw_length is not None and not raw_length.strip().isdigit():
        raise InvalidArgument(
            f"Inference-Header-Content-Length must be an integer, got {raw_length!r}"
        )
    req = v2.decode_request(body, int(raw_length) if raw_length is not None else None)
    result, outputs = await state.dataplane.infer_v2(
        name,
        req,
        version=_version(request),
        request_id=request_id(request.scope),
        headers=request.headers,
    )
    out, header_length = v2.encode_response(
        model_name=name,
        model_version=str(result.version),
        request_id=req.id,
        outputs=outputs,
        request=req,
    )
    headers = model_headers(result)
    if header_length is None:
        return Response(out, media_type="application/json", headers=headers), result
    headers["inference-header-content-length"] = str(header_length)
    return Response(out, media_type="application/octet-stream", headers=headers), result


infer = prediction_route("v2", _infer)

routes = [
    Route("/v2", server_metadata, methods=["GET"]),
    Route("/v2/health/live", live, methods=["GET"]),
    Route("/v2/health/ready", ready, methods=["GET"]),
    Route("/v2/models/{model}", model_metadata, methods=["GET"]),
    Route("/v2/models/{model}/versions/{version}", model_metadata, methods=["GET"]),
    Route("/v2/models/{model}/ready", model_ready, methods=["GET"]),
    Route("/v2/models/{model}/versions/{version}/ready", model_ready, methods=["GET"]),
    Route("/v2/models/{model}/infer", infer, methods=["POST"]),
    Route("/v2/models/{model}/versions/{version}/infer", infer, methods=["POST"]),
]
