"""Rollouts: the list, one endpoint's live rollout (steps, weights, every gate at every interval, the
verdict), its buttons, and the event stream that tells the page to redraw.

The buttons call the same ``RolloutService`` methods as ``POST /api/rollouts/{name}/{action}``. The
stream polls one indexed row (the endpoint's newest rollout) twice a second and sends an event when
it changed; the page then fetches the live fragment again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.interfaces.console.render import Form, console_of
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.management import ROLLOUT_ACTIONS
from shipyard.interfaces.http.sessions import CONSOLE
from shipyard.lifecycle.rollouts import RolloutState
from shipyard.registry.deployments import ACTIVE_ROLLOUT_STATUSES, RolloutRecord

POLL_SECONDS = 0.5
"""How often the event stream looks at the rollout: a new gate evaluation shows within 2 s."""
STREAM_SECONDS = 20.0
"""A stream ends after this long and the browser's EventSource reconnects by itself: shorter than
the server's graceful-shutdown wait, so an open page never holds a stopping server."""
HEARTBEAT_SECONDS = 15.0
DONE = {"pause": "paused", "resume": "resumed", "promote": "promoted", "abort": "aborted"}


def rollouts(request: Request, s: Services) -> dict[str, Any]:
    return {"rollouts": s.rollouts.store.rollouts(limit=100)}


def _stamp(record: RolloutRecord | None) -> str:
    return "" if record is None else f"{record.id}:{record.status}:{record.updated_at.isoformat()}"


def live(request: Request, s: Services) -> dict[str, Any]:
    """One endpoint's newest rollout: its state, steps and each analysis's gates."""
    name = request.path_params["name"]
    found = s.rollouts.store.rollouts(deployment=name, limit=1)
    if not found:
        deployment = s.deployments.store.find(name)
        if deployment is None:
            try:
                s.registry.get_model(name)
            except (NotFound, InvalidArgument):
                raise NotFound(f"no endpoint {name!r}: no deployment, rollout or model") from None
        return {"name": name, "record": None, "state": None, "analyses": [], "stamp": ""}
    record = found[0]
    state = RolloutState.from_dict(dict(record.state))
    analyses = []
    events = s.rollouts.store.events(record.id)
    for event in events:
        analysis = event.details.get("analysis")
        analyses.append(
            {
                "event": event,
                "verdict": analysis.get("verdict") if isinstance(analysis, dict) else None,
                "gates": analysis.get("gates", []) if isinstance(analysis, dict) else [],
                "reason": (analysis or {}).get("reason") or event.details.get("reason", ""),
                "weight": event.details.get("weight"),
            }
        )
    steps = [
        {
            "weight": w,
            "done": i < state.step or record.status == "succeeded",
            "current": i == state.step,
        }
        for i, w in enumerate(state.steps)
    ]
    return {
        "name": name,
        "record": record,
        "state": state,
        "active": record.status in ACTIVE_ROLLOUT_STATUSES,
        "steps": steps,
        "analyses": analyses[::-1],
        "stamp": _stamp(record),
        "history": s.rollouts.history(name, limit=10),
    }


def rollout_action(request: Request, s: Services, form: Form) -> tuple[str, str]:
    name, verb = request.path_params["name"], request.path_params["action"]
    if verb not in ROLLOUT_ACTIONS:
        raise NotFound(f"no rollout action {verb!r}; one of {', '.join(ROLLOUT_ACTIONS)}")
    result = getattr(s.rollouts, verb)(name, actor=principal(request).name)
    if verb == "rollback":
        if result.get("kind") == "alias":
            note = f"rolled back: {result['alias']} now points to version {result['to']}"
        else:
            note = f"rolled back ({result.get('kind')})"
    else:
        note = f"rollout {result.id} {DONE[verb]}: {result.status}"
    return f"{CONSOLE}/rollouts/{name}", note


async def events(request: Request) -> Response:
    """Server-sent events: ``change`` whenever the endpoint's newest rollout changes."""
    name = request.path_params["name"]
    store = console_of(request).services.rollouts.store

    def newest() -> str:
        found = store.rollouts(deployment=name, limit=1)
        return _stamp(found[0] if found else None)

    async def stream() -> AsyncIterator[str]:
        last = request.query_params.get("since", "")
        started = beat = time.monotonic()
        yield "retry: 1000\n\n"
        while time.monotonic() - started < STREAM_SECONDS:
            if await request.is_disconnected():
                return
            stamp = await run_in_threadpool(newest)
            if stamp != last:
                last = stamp
                yield f"event: change\ndata: {stamp}\n\n"
            elif time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                yield ": still here\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
