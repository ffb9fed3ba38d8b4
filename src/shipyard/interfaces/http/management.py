"""The management API: ``/api/deployments`` and ``/api/rollouts`` (JSON in and out).

Bodies are typed (``schemas``): a wrong type is a 400 naming the field. Errors are not caught here:
the app's one exception handler turns every ``ShipyardError`` into its response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.app import Services
from shipyard.core.errors import Unavailable
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.bodies import read_body
from shipyard.interfaces.http.responses import json_response
from shipyard.interfaces.http.schemas import DeploymentCreate, DeploymentUpdate, RolloutStart, parse
from shipyard.interfaces.http.state import server_state
from shipyard.interfaces.serialize import plain
from shipyard.lifecycle.service import parse_gate
from shipyard.registry.deployments import DeploymentSpec

Handler = Callable[[Request, Services, bytes], Any]


def api(
    handler: Handler, *, body: bool = False, created: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """A management route: JSON body in (``body``), one handler call off the event loop, JSON out
    (201 for a POST that ``created`` something, else 200)."""

    async def endpoint(request: Request) -> Response:
        state = server_state(request)
        if state.services is None:
            raise Unavailable("this server has no management API")
        raw = (
            await read_body(request, state.config.max_body_bytes, state.config.body_timeout)
            if body
            else b""
        )
        services = state.services
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: handler(request, services, raw)
        )
        return json_response(
            plain(result), status=201 if request.method == "POST" and created else 200
        )

    return endpoint


def actor(request: Request) -> str:
    """The verified principal of the request: the actor of every change it makes."""
    return principal(request).name


def _list(request: Request, s: Services, raw: bytes) -> Any:
    return [
        {"name": d.name, "revision": d.revision, **d.spec.to_dict()} for d in s.deployments.all()
    ]


def _get(request: Request, s: Services, raw: bytes) -> Any:
    d = s.deployments.get(request.path_params["name"])
    return {
        "name": d.name,
        "revision": d.revision,
        "updated_at": d.updated_at,
        "updated_by": d.updated_by,
        **d.spec.to_dict(),
    }


def _create(request: Request, s: Services, raw: bytes) -> Any:
    body = parse(DeploymentCreate, raw)
    d = s.deployments.create(
        body.name,
        DeploymentSpec.from_dict(body.spec()),
        description=body.description,
        actor=actor(request),
    )
    return {"name": d.name, "revision": d.revision, **d.spec.to_dict()}


def _set(request: Request, s: Services, raw: bytes) -> Any:
    body = parse(DeploymentUpdate, raw)
    d = s.deployments.set(
        request.path_params["name"],
        DeploymentSpec.from_dict(body.spec()),
        reason=body.reason,
        expected_revision=body.expected_revision,
        actor=actor(request),
    )
    return {"name": d.name, "revision": d.revision, **d.spec.to_dict()}


def _history(request: Request, s: Services, raw: bytes) -> Any:
    return s.deployments.history(request.path_params["name"])


def _rollout_status(request: Request, s: Services, raw: bytes) -> Any:
    status = s.rollouts.status(request.path_params["name"])
    return {"rollout": status.rollout, "events": status.events}


def _rollout_start(request: Request, s: Services, raw: bytes) -> Any:
    body = parse(RolloutStart, raw)
    return s.rollouts.start(
        request.path_params["name"],
        to_version=body.to,
        strategy=body.strategy,
        steps=tuple(body.steps) if body.steps else None,
        interval=body.interval,
        gates=parse_gate([f"{k}={v}" for k, v in body.gates.items()]),
        failure_limit=body.failure_limit,
        actor=actor(request),
    )


ROLLOUT_ACTIONS = ("pause", "resume", "promote", "abort", "rollback")


def _rollout_action(action: str) -> Handler:
    def run(request: Request, s: Services, raw: bytes) -> Any:
        return getattr(s.rollouts, action)(request.path_params["name"], actor=actor(request))

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
        for action in ROLLOUT_ACTIONS
    ),
]
