"""The management API: ``/api/deployments`` and ``/api/rollouts`` (JSON in and out)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.app import Services
from shipyard.core.durations import duration_seconds
from shipyard.core.errors import InvalidArgument, ShipyardError, Unavailable
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.responses import error_response, json_response
from shipyard.interfaces.http.state import server_state
from shipyard.interfaces.serialize import plain
from shipyard.lifecycle.service import parse_gate
from shipyard.registry.deployments import DeploymentSpec

Handler = Callable[[Request, Services, dict[str, Any]], Any]


def api(
    handler: Handler, *, body: bool = False, created: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """A management route: JSON body in (``body``), one handler call off the event loop, JSON out
    (201 for a POST that ``created`` something, else 200)."""

    async def endpoint(request: Request) -> Response:
        state = server_state(request)
        try:
            if state.services is None:
                raise Unavailable("this server has no management API")
            doc: dict[str, Any] = {}
            if body:
                raw = await read_body(request, state.config.max_body_bytes)
                try:
                    parsed = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError as exc:
                    raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc
                if not isinstance(parsed, dict):
                    raise InvalidArgument("the body must be a JSON object")
                doc = parsed
            services = state.services
            result = await asyncio.get_running_loop().run_in_executor(
                None, lambda: handler(request, services, doc)
            )
        except ShipyardError as exc:
            return error_response(exc, "native", request_id(request.scope))
        status = 201 if request.method == "POST" and created else 200
        return json_response(plain(result), status=status)

    return endpoint


def actor(request: Request) -> str:
    """The verified principal of the request: the actor of every change it makes."""
    return principal(request).name


def _list(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    return [
        {"name": d.name, "revision": d.revision, **d.spec.to_dict()} for d in s.deployments.all()
    ]


def _get(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    d = s.deployments.get(request.path_params["name"])
    return {
        "name": d.name,
        "revision": d.revision,
        "updated_at": d.updated_at,
        "updated_by": d.updated_by,
        **d.spec.to_dict(),
    }


def _create(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name = doc.get("name")
    if not isinstance(name, str):
        raise InvalidArgument("'name' is required")
    d = s.deployments.create(
        name,
        DeploymentSpec.from_dict(doc),
        description=str(doc.get("description", "")),
        actor=actor(request),
    )
    return {"name": d.name, "revision": d.revision, **d.spec.to_dict()}


def _set(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    revision = doc.get("expected_revision")
    d = s.deployments.set(
        request.path_params["name"],
        DeploymentSpec.from_dict(doc),
        reason=str(doc.get("reason", "")),
        expected_revision=int(revision) if revision is not None else None,
        actor=actor(request),
    )
    return {"name": d.name, "revision": d.revision, **d.spec.to_dict()}


def _history(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    return s.deployments.history(request.path_params["name"])


def _rollout_status(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    status = s.rollouts.status(request.path_params["name"])
    return {"rollout": status.rollout, "events": status.events}


def _rollout_start(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    if "to" not in doc:
        raise InvalidArgument("'to' (the version to roll out) is required")
    steps = doc.get("steps")
    record = s.rollouts.start(
        request.path_params["name"],
        to_version=int(doc["to"]),
        strategy=str(doc.get("strategy", "canary")),
        steps=tuple(float(x) for x in steps) if steps else None,
        interval=duration_seconds(doc.get("interval", 60), "interval"),
        gates=parse_gate([f"{k}={v}" for k, v in (doc.get("gates") or {}).items()]),
        failure_limit=int(doc.get("failure_limit", 0)),
        actor=actor(request),
    )
    return record


def _rollout_action(action: str) -> Handler:
    def run(request: Request, s: Services, doc: dict[str, Any]) -> Any:
        name = request.path_params["name"]
        return getattr(s.rollouts, action)(name, actor=actor(request))

    return run


routes = [
    Route("/api/deployments", api(_list), methods=["GET"]),
    Route("/api/deployments", api(_create, body=True), methods=["POST"]),
    Route("/api/deployments/{name}", api(_get), methods=["GET"]),
    Route("/api/deployments/{name}", api(_set, body=True), methods=["PUT"]),
    Route("/api/deployments/{name}/history", api(_history), methods=["GET"]),
    Route("/api/rollouts/{name}", api(_rollout_status), methods=["GET"]),
    Route("/api/rollouts/{name}", api(_rollout_start, body=True), methods=["POST"]),
    *(
        Route(
            f"/api/rollouts/{{name}}/{action}",
            api(_rollout_action(action), created=False),
            methods=["POST"],
        )
        for action in ("pause", "resume", "promote", "abort", "rollback")
    ),
]
