"""The two kinds of Ray Serve deployment behind ``serve --backend ray``: endpoints and the ingress.

Each endpoint is a deployment of its own (``shipyard-<endpoint>``, scaled on its own), whose
replicas run Shipyard's whole ASGI app for that one endpoint (``EndpointReplica``): validation,
batching, authentication, metrics, the prediction log and the registry follower are the same code
as under uvicorn. The ingress deployment (``Ingress``), behind Ray Serve's HTTP proxy, reads a
request (within the body size and time limits) and hands it to the deployment its path names:
``/v2/models/{name}/…``, ``/v1/models/{name}/…``, ``/endpoints/{name}/invocations``, and
``/invocations`` when one endpoint is served. The other routes (management API, feedback, metrics,
docs) go to the first endpoint's deployment, except those that span endpoints, which the ingress
merges: readiness (ready when every endpoint is), ``/openapi.json`` and ``/api/status``.

A replica that dies with a request in flight fails that call (``RayActorError``); Ray Serve stops
routing to it and starts a replacement. The ingress retries such a request on another replica
when repeating it changes nothing (predictions and explanations, whose only effect is a log record
the dead replica did not write, and GET), at most ``RETRIES`` times; otherwise, or when the retries
fail too, it answers 503 with ``Retry-After``. A request is never lost without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message

from shipyard.core.errors import ShipyardError, Unavailable
from shipyard.interfaces.http.bodies import receive_body
from shipyard.interfaces.http.config import ServeConfig
from shipyard.interfaces.http.mlflow import several_endpoints
from shipyard.interfaces.http.requestid import HEADER as REQUEST_ID_HEADER
from shipyard.interfaces.http.responses import error_response, protocol_of

log = logging.getLogger("shipyard.http")
RETRIES = 2
"""Further attempts for a repeatable request whose replica died while answering it."""
RETRY_AFTER_S = 1.0

_ENDPOINT_PATHS = (
    re.compile(r"^/v2/models/([^/]+)(?:/|$)"),
    re.compile(r"^/v1/models/([^/:]+)(?:[/:]|$)"),
    re.compile(r"^/endpoints/([^/]+)/invocations$"),
)
_REPEATABLE_POST = re.compile(
    r"^/v2/models/[^/]+(?:/versions/[^/]+)?/infer$|^/v1/models/[^/:]+(?:/predict|/explain|:explain)$"
    r"|^(?:/endpoints/[^/]+)?/invocations$"
)
_MERGED = ("/v2/health/ready", "/openapi.json", "/api/status")


@dataclass(frozen=True)
class Forwarded:
    """An HTTP request as the ingress received it, whole, for an endpoint replica."""

    method: str
    path: str
    raw_path: bytes
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    scheme: str = "http"
    http_version: str = "1.1"

    @property
    def repeatable(self) -> bool:
        """Whether sending it again changes nothing but what a lost attempt did not do."""
        return self.method in ("GET", "HEAD") or (
            self.method == "POST" and _REPEATABLE_POST.match(self.path) is not None
        )

    def to(self, path: str, method: str = "GET") -> Forwarded:
        """The same caller (headers, client) asking ``method path`` without a body."""
        headers = [(k, v) for k, v in self.headers if k not in (b"content-length", b"content-type")]
        return Forwarded(method, path, path.encode(), b"", headers, b"", self.client, self.server)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def response(self) -> Response:
        response = Response(self.body, status_code=self.status)
        response.raw_headers = list(self.headers)
        return response

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call_asgi(app: ASGIApp, request: Forwarded) -> Answer:
    """Run ``request`` through ``app`` in this process and collect the whole response."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.http_version,
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path,
        "root_path": "",
        "query_string": request.query_string,
        "headers": list(request.headers),
        "client": request.client,
        "server": request.server,
    }
    body_sent = False
    done = asyncio.Event()
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await done.wait()  # the caller stays connected until the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return Answer(status, headers, b"".join(chunks))


def endpoint_in_path(path: str) -> str | None:
    """The endpoint a route names (``/v2/models/churn/infer`` -> ``churn``), if any."""
    for pattern in _ENDPOINT_PATHS:
        found = pattern.match(path)
        if found:
            return found.group(1)
    return None


class EndpointReplica:
    """A replica of one endpoint's deployment: the ASGI app of ``serve`` for that endpoint."""

    # Ray Serve awaits an async constructor: the replica counts as started only once its models
    # are loaded and warmed and the app's lifespan (registry follower, log writer) is running.
    async def __init__(self) -> None:  # type: ignore[misc]
        from shipyard.interfaces.http.ray_serve import build_replica_app

        self.app = build_replica_app()
        self._lifespan = contextlib.AsyncExitStack()
        await self._lifespan.enter_async_context(self.app.router.lifespan_context(self.app))

    async def answer(self, request: Forwarded) -> Answer:
        return await call_asgi(self.app, request)

    async def __del__(self) -> None:  # type: ignore[misc]
        # Ray Serve awaits this at a graceful shutdown: flushes the prediction log
        await self._lifespan.aclose()


class Ingress:
    """The HTTP ingress: routes each request to its endpoint's deployment (see the module doc)."""

    def __init__(self, endpoints: Mapping[str, Any], config_json: str) -> None:
        self.handles = dict(endpoints)
        """Endpoint name -> Ray Serve ``DeploymentHandle`` of its deployment."""
        self.names = list(endpoints)
        self.config = ServeConfig.model_validate_json(config_json)

    async def __call__(self, request: Request) -> Response:
        rid = request.headers.get(REQUEST_ID_HEADER.decode()) or uuid.uuid4().hex
        path = request.url.path
        try:
            body = await receive_body(request, self.config.max_body_bytes, self.config.body_timeout)
            forwarded = Forwarded(
                request.method,
                path,
                request.scope.get("raw_path") or path.encode(),
                request.scope.get("query_string", b""),
                list(request.scope["headers"]),
                body,
                request.scope.get("client"),
                request.scope.get("server"),
                request.scope.get("scheme", "http"),
                request.scope.get("http_version", "1.1"),
            )
            if request.method == "GET" and path in _MERGED:
                return (await self._merged(forwarded)).response()
            name = self._endpoint_for(path)
            return (await self._forward(name, forwarded)).response()
        except ShipyardError as exc:
            response = error_response(exc, protocol_of(path), rid)
            response.headers[REQUEST_ID_HEADER.decode()] = rid
            return response

    def _endpoint_for(self, path: str) -> str:
        named = endpoint_in_path(path)
        if named in self.handles:
            return named
        if path == "/invocations" and len(self.names) > 1:
            raise several_endpoints(self.names)
        return self.names[0]  # it answers as usual, an unknown endpoint included

    async def _forward(self, name: str, request: Forwarded) -> Answer:
        from ray.exceptions import RayActorError
        from ray.serve.exceptions import DeploymentUnavailableError

        attempts = 1 + (RETRIES if request.repeatable else 0)
        for attempt in range(1, attempts + 1):
            try:
                answer: Answer = await self.handles[name].answer.remote(request)
                return answer
            except (RayActorError, DeploymentUnavailableError) as exc:
                log.warning(
                    "%s %s: a replica of endpoint %r stopped while answering (%s), attempt %d/%d",
                    request.method,
                    request.path,
                    name,
                    type(exc).__name__,
                    attempt,
                    attempts,
                )
        raise Unavailable(
            f"endpoint {name!r}: the replica answering this request stopped; retry it",
            retry_after=RETRY_AFTER_S,
        )

    async def _merged(self, request: Forwarded) -> Answer:
        """Ask every endpoint; the first one that does not answer 200 answers for all."""
        answers = await asyncio.gather(*(self._forward(n, request) for n in self.names))
        refused = next((a for a in answers if a.status != 200), None)
        if refused is not None:
            return refused
        merged = _merge(request.path, [a.json() for a in answers])
        first = answers[0]
        headers = [(k, v) for k, v in first.headers if k != b"content-length"]
        return Answer(200, headers, orjson.dumps(merged))


def _merge(path: str, documents: Sequence[Any]) -> Any:
    first = documents[0]
    if path == "/openapi.json":
        for doc in documents[1:]:
            first["paths"].update(doc.get("paths", {}))
            for kind, items in doc.get("components", {}).items():
                first.setdefault("components", {}).setdefault(kind, {}).update(items)
        if len(documents) > 1:  # each replica serves one endpoint; together they serve several
            first["paths"].pop("/invocations", None)
        return first
    if path == "/api/status":
        return {
            **first,
            "ready": all(d.get("ready") for d in documents),
            "endpoints": [e for d in documents for e in d.get("endpoints", [])],
        }
    return first  # readiness: every endpoint answered 200


__all__ = ["Answer", "EndpointReplica", "Forwarded", "Ingress", "call_asgi", "endpoint_in_path"]
