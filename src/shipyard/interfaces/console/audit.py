"""Alerts and the audit log, with filters, and the audit chain's verification status."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument

STATUSES = ("open", "resolved")
SEVERITIES = ("warning", "critical")
MAX_ROWS = 500
CHAIN_TAIL = 200
"""Links the page checks (the newest); `?verify=all` checks every link, as `shipyard audit verify`."""


def _limit(raw: str | None) -> int:
    try:
        value = int(raw or 200)
    except ValueError:
        raise InvalidArgument(f"limit must be a whole number, got {raw!r}") from None
    if not 1 <= value <= MAX_ROWS:
        raise InvalidArgument(f"limit must be between 1 and {MAX_ROWS}, got {value}")
    return value


def alerts(request: Request, s: Services) -> dict[str, Any]:
    q = request.query_params
    status = q.get("status", "")
    severity = q.get("severity", "")
    if status and status not in STATUSES:
        raise InvalidArgument(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if severity and severity not in SEVERITIES:
        raise InvalidArgument(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    found = s.monitor_store.alerts(
        endpoint=q.get("endpoint") or None, status=status or None, limit=_limit(q.get("limit"))
    )
    if severity:
        found = [a for a in found if a.severity == severity]
    return {
        "alerts": found,
        "filters": {"endpoint": q.get("endpoint", ""), "status": status, "severity": severity},
        "statuses": STATUSES,
        "severities": SEVERITIES,
    }


def audit(request: Request, s: Services) -> dict[str, Any]:
    q = request.query_params
    full = q.get("verify") == "all"
    events = s.registry.audit(
        action=q.get("action") or None, target=q.get("target") or None, limit=_limit(q.get("limit"))
    )
    actor = q.get("actor", "")
    if actor:
        events = [e for e in events if e.actor == actor]
    return {
        "events": events,
        "chain": s.registry.verify_audit(tail=None if full else CHAIN_TAIL),
        "full": full,
        "tail": CHAIN_TAIL,
        "filters": {k: q.get(k, "") for k in ("action", "target", "actor")},
    }
