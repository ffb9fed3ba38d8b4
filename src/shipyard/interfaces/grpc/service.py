"""``inference.GRPCInferenceService``: each RPC decodes, makes one data-plane call, and encodes.

Validation, routing, batching, the prediction log, shadows and metrics are the data plane's, shared
with HTTP; errors become gRPC status codes through ``errors.STATUS``. Every RPC first calls
``authenticate(metadata, rpc)``: the server gives it the HTTP port's gate, so ``authorization:
Bearer <token>`` metadata is checked against the same tokens and the permission of ``RPC_NEEDS``
(health open, metadata to readers and predictors, inference to predictors).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from shipyard._version import __version__
from shipyard.core.errors import InvalidArgument, NotFound, ShipyardError, Unavailable
from shipyard.interfaces.grpc.errors import code_of
from shipyard.registry.access import Permission
from shipyard.serving.codecs import proto, v2, v2grpc
from shipyard.serving.dataplane import DataPlane, InferResult
from shipyard.serving.metrics import ServingMetrics

log = logging.getLogger("shipyard.grpc")

PROTOCOL = "grpc"
REQUEST_ID_KEY = "x-request-id"

Authenticate = Callable[[Mapping[str, str], frozenset[Permission]], Awaitable[object]]
"""Checks a call's metadata (lower-case keys) for one of the permissions; raises a ShipyardError
(Unauthenticated, Forbidden) to refuse it."""

INSPECT = frozenset({Permission.READ, Permission.PREDICT})
RPC_NEEDS: dict[str, frozenset[Permission]] = {
    "ServerLive": frozenset(),
    "ServerReady": frozenset(),
    "ServerMetadata": INSPECT,
    "ModelMetadata": INSPECT,
    "ModelReady": INSPECT,
    "ModelInfer": frozenset({Permission.PREDICT}),
}
"""The same rules as the HTTP routes of the same operations (``http.permissions.OPERATIONS``)."""

Context = Any
"""``grpc.aio.ServicerContext`` (grpcio is imported lazily, so untyped here)."""


def _version(raw: str) -> int | None:
    if raw == "":
        return None
    if not raw.isdigit():
        raise InvalidArgument(f"model version must be a positive integer, got {raw!r}")
    return int(raw)


def _metadata(context: Context) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):  # binary ("-bin") entries are not headers
            out[key.lower()] = value
    return out


class InferenceService:
    def __init__(
        self,
        dataplane: DataPlane,
        metrics: ServingMetrics,
        *,
        authenticate: Authenticate | None = None,
    ) -> None:
        self.dataplane = dataplane
        self.metrics = metrics
        self._authenticate = authenticate
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    async def authenticate(self, metadata: Mapping[str, str], rpc: str) -> None:
        """Refuse the call unless its ``authorization`` metadata may do ``rpc`` (no check when the
        service was built without a gate, as in-process tests do)."""
        needed = RPC_NEEDS[rpc]
        if self._authenticate is not None and needed:
            await self._authenticate(metadata, needed)

    async def _abort(self, context: Context, exc: ShipyardError) -> None:
        import grpc

        await context.abort(grpc.StatusCode[code_of(exc)], str(exc))

    # -- health and metadata -----------------------------------------------------------------------

    async def server_live(self, request: Any, context: Context) -> Any:
        try:
            await self.authenticate(_metadata(context), "ServerLive")
        except ShipyardError as exc:
            await self._abort(context, exc)
        return proto.ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: Context) -> Any:
        try:
            await self.authenticate(_metadata(context), "ServerReady")
        except ShipyardError as exc:
            await self._abort(context, exc)
        return proto.ServerReadyResponse(ready=self.dataplane.ready)

    async def server_metadata(self, request: Any, context: Context) -> Any:
        try:
            await self.authenticate(_metadata(context), "ServerMetadata")
        except ShipyardError as exc:
            await self._abort(context, exc)
        return proto.ServerMetadataResponse(
            name="shipyard", version=__version__, extensions=list(v2.EXTENSIONS)
        )

    async def model_ready(self, request: Any, context: Context) -> Any:
        try:
            await self.authenticate(_metadata(context), "ModelReady")
            self.dataplane.serving(request.name, _version(request.version))
        except Unavailable:
            return proto.ModelReadyResponse(ready=False)  # known, still loading
        except ShipyardError as exc:
            await self._abort(context, exc)
        return proto.ModelReadyResponse(ready=True)

    async def model_metadata(self, request: Any, context: Context) -> Any:
        try:
            await self.authenticate(_metadata(context), "ModelMetadata")
            loaded = self.dataplane.serving(request.name, _version(request.version))
        except ShipyardError as exc:
            await self._abort(context, exc)
        meta = v2.model_metadata(
            request.name, loaded.number, loaded.model.flavor, loaded.model.signature
        )
        response = proto.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=meta["platform"]
        )
        v2grpc.tensor_metadata(meta["inputs"], response.inputs)
        v2grpc.tensor_metadata(meta["outputs"], response.outputs)
        return response

    # -- inference ----------------------------------------------------------------------------------

    async def model_infer(self, request: Any, context: Context) -> Any:
        metadata = _metadata(context)
        rid = metadata.get(REQUEST_ID_KEY, "")[:200] or uuid.uuid4().hex
        name = request.model_name
        label = name if name in self.dataplane.endpoints else "unknown"
        in_flight = self.metrics.in_flight.labels(label)
        in_flight.inc()
        started = time.perf_counter()
        version, code = "", "OK"
        result: InferResult | None = None
        response = None
        failure: ShipyardError | None = None
        try:
            await self.authenticate(metadata, "ModelInfer")
            if not name:
                raise NotFound("model_name is empty; name the endpoint to infer with")
            req = v2grpc.decode_infer_request(request)
            result, outputs = await self.dataplane.infer_v2(
                name,
                req,
                version=_version(request.model_version),
                request_id=rid,
                headers=metadata,
            )
            version = str(result.version)
            response = v2grpc.encode_infer_response(
                model_name=name,
                model_version=version,
                request_id=req.id,
                outputs=outputs,
                request=req,
            )
        except ShipyardError as exc:
            failure = exc
        except Exception as exc:  # a bug of ours: INTERNAL with the id, keep serving
            log.exception("request %s to %s failed unexpectedly", rid, name)
            failure = ShipyardError(f"internal error {type(exc).__name__} (request id {rid})")
        finally:
            in_flight.dec()
        if failure is not None:
            code = code_of(failure)
            if code == "INTERNAL":
                log.error(
                    "request %s to %s failed: %s: %s", rid, name, type(failure).__name__, failure
                )
        self.metrics.requests.labels(label, version, PROTOCOL, code).inc()
        self.metrics.request_seconds.labels(label, version, PROTOCOL).observe(
            time.perf_counter() - started
        )
        if failure is not None:
            await self._abort(context, failure)
        assert result is not None
        context.set_trailing_metadata(
            (
                (REQUEST_ID_KEY, rid),
                ("x-model-name", result.loaded.version.name),
                ("x-model-version", version),
            )
        )
        if result.shadows:  # mirrored after the answer, never delaying it
            task = asyncio.get_running_loop().create_task(self.dataplane.run_shadows(result, rid))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
        return response

    def handlers(self) -> dict[str, Callable[[Any, Context], Any]]:
        """Each RPC's coroutine, by method name of ``proto.SERVICE``."""
        return {
            "ServerLive": self.server_live,
            "ServerReady": self.server_ready,
            "ModelReady": self.model_ready,
            "ServerMetadata": self.server_metadata,
            "ModelMetadata": self.model_metadata,
            "ModelInfer": self.model_infer,
        }
