"""Approvals: the versions waiting on a protected alias, with approve and reject (and a comment).

The buttons call ``GovernanceService.approve`` and ``reject``, as ``POST /api/models/{name}/versions/
{version}/approve`` does; the service enforces every rule (no self-approval, final decisions).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.console.render import Form
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.sessions import CONSOLE

MAX_COMMENT = 2000


def approvals(request: Request, s: Services) -> dict[str, Any]:
    queue = s.governance.queue(limit=100)
    waiting = [r for r in s.rollouts.store.rollouts(limit=200) if r.status == "pending_approval"]
    versions = {(q.name, q.version): s.registry.get_version(q.name, q.version) for q in queue}
    return {"queue": queue, "versions": versions, "rollouts": waiting}


def decide(request: Request, s: Services, form: Form) -> tuple[str, str]:
    name = request.path_params["name"]
    decision = request.path_params["decision"]
    try:
        version = int(request.path_params["version"])
    except ValueError:
        raise InvalidArgument("version must be a whole number") from None
    comment = form.get("comment", "").strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidArgument(f"comment: at most {MAX_COMMENT} characters")
    if decision not in ("approve", "reject"):
        raise InvalidArgument(f"decision must be approve or reject, got {decision!r}")
    act = s.governance.approve if decision == "approve" else s.governance.reject
    status = act(name, version, actor=principal(request).name, comment=comment)
    return f"{CONSOLE}/approvals", f"{name}/{version}: {decision}d; now {status.status}"
