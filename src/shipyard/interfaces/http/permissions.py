"""The one table of what each HTTP operation needs: (method, route path) -> permissions (any of).

The security middleware looks every request up here before any route runs. An operation missing
from the table is refused (403), and a test checks that every route of the app is listed, so a new
route cannot skip authorization by accident. An empty set means open to everyone (health checks).
"""

from __future__ import annotations

from shipyard.registry.access import Permission

OPEN: frozenset[Permission] = frozenset()
READ = frozenset({Permission.READ})
PREDICT = frozenset({Permission.PREDICT})
INSPECT = frozenset({Permission.READ, Permission.PREDICT})
"""Model metadata a prediction client needs: viewers and predictors."""
FEEDBACK = frozenset({Permission.FEEDBACK})
DEPLOY = frozenset({Permission.DEPLOY})
APPROVE = frozenset({Permission.APPROVE})
PROTECT = frozenset({Permission.PROTECT})
TOKENS = frozenset({Permission.TOKENS})

OPERATIONS: dict[tuple[str, str], frozenset[Permission]] = {
    # health and readiness: always open
    ("GET", "/v2/health/live"): OPEN,
    ("GET", "/v2/health/ready"): OPEN,
    ("GET", "/ping"): OPEN,
    ("GET", "/health"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/static"): OPEN,
    # predictions (open with --open-predict) and feedback
    ("GET", "/v2"): INSPECT,
    ("GET", "/v2/models/{model}"): INSPECT,
    ("GET", "/v2/models/{model}/versions/{version}"): INSPECT,
    ("GET", "/v2/models/{model}/ready"): INSPECT,
    ("GET", "/v2/models/{model}/versions/{version}/ready"): INSPECT,
    ("GET", "/version"): INSPECT,
    ("POST", "/v2/models/{model}/infer"): PREDICT,
    ("POST", "/v2/models/{model}/versions/{version}/infer"): PREDICT,
    ("POST", "/invocations"): PREDICT,
    ("POST", "/endpoints/{model}/invocations"): PREDICT,
    ("POST", "/v1/models/{model}/predict"): PREDICT,
    ("POST", "/v1/models/{model}/explain"): PREDICT,
    ("POST", "/v1/models/{model}:explain"): PREDICT,
    ("POST", "/v1/feedback"): FEEDBACK,
    # operations (/metrics is open when the server binds a loopback address)
    ("GET", "/metrics"): READ,
    ("GET", "/api/status"): READ,
    ("GET", "/openapi.json"): READ,
    # deployments and rollouts
    ("GET", "/api/deployments"): READ,
    ("POST", "/api/deployments"): DEPLOY,
    ("GET", "/api/deployments/{name}"): READ,
    ("PUT", "/api/deployments/{name}"): DEPLOY,
    ("GET", "/api/deployments/{name}/history"): READ,
    ("GET", "/api/rollouts/{name}"): READ,
    ("POST", "/api/rollouts/{name}"): DEPLOY,
    ("POST", "/api/rollouts/{name}/pause"): DEPLOY,
    ("POST", "/api/rollouts/{name}/resume"): DEPLOY,
    ("POST", "/api/rollouts/{name}/promote"): DEPLOY,
    ("POST", "/api/rollouts/{name}/abort"): DEPLOY,
    ("POST", "/api/rollouts/{name}/rollback"): DEPLOY,
    # the registry
    ("GET", "/api/models"): READ,
    ("GET", "/api/models/{name}"): READ,
    ("GET", "/api/models/{name}/versions"): READ,
    ("GET", "/api/models/{name}/versions/{version}"): READ,
    ("GET", "/api/models/{name}/aliases/{alias}"): READ,
    ("GET", "/api/models/{name}/aliases/{alias}/history"): READ,
    # moving or deleting a *protected* alias by hand also needs ``protect`` (checked by the route)
    ("PUT", "/api/models/{name}/aliases/{alias}"): DEPLOY,
    ("DELETE", "/api/models/{name}/aliases/{alias}"): DEPLOY,
    ("GET", "/api/models/{name}/versions/{version}/approvals"): READ,
    ("POST", "/api/models/{name}/versions/{version}/approve"): APPROVE,
    ("POST", "/api/models/{name}/versions/{version}/reject"): APPROVE,
    ("GET", "/api/models/{name}/protection"): READ,
    ("PUT", "/api/models/{name}/protection/{alias}"): PROTECT,
    ("DELETE", "/api/models/{name}/protection/{alias}"): PROTECT,
    ("GET", "/api/audit"): READ,
    ("GET", "/api/audit/verify"): READ,
    ("GET", "/api/tokens"): TOKENS,
    ("POST", "/api/tokens"): TOKENS,
    ("DELETE", "/api/tokens/{name}"): TOKENS,
    # the console (/ui): a browser session stands for the token; each button needs what its API
    # route needs, and the console shows only the buttons the session's roles may use
    ("GET", "/ui/static"): OPEN,
    ("GET", "/ui/sign-in"): OPEN,
    ("POST", "/ui/sign-in"): OPEN,
    ("POST", "/ui/sign-out"): OPEN,
    ("GET", "/ui"): READ,
    ("GET", "/ui/models"): READ,
    ("GET", "/ui/models/{name}"): READ,
    ("GET", "/ui/models/{name}/versions/{version}"): READ,
    ("GET", "/ui/models/{name}/compare"): READ,
    ("POST", "/ui/models/{name}/aliases/{alias}/rollback"): DEPLOY,
    ("GET", "/ui/endpoints/{name}/monitoring"): READ,
    ("GET", "/ui/endpoints/{name}/story"): READ,
    ("GET", "/ui/rollouts"): READ,
    ("GET", "/ui/rollouts/{name}"): READ,
    ("GET", "/ui/rollouts/{name}/live"): READ,
    ("GET", "/ui/rollouts/{name}/events"): READ,
    ("POST", "/ui/rollouts/{name}/{action}"): DEPLOY,
    ("GET", "/ui/approvals"): READ,
    ("POST", "/ui/approvals/{name}/{version}/{decision}"): APPROVE,
    ("GET", "/ui/alerts"): READ,
    ("GET", "/ui/audit"): READ,
}

PREDICTION_PERMISSIONS = frozenset({Permission.PREDICT, Permission.FEEDBACK})
"""What ``--open-predict`` opens to callers without a token."""


def state_changing(method: str, path: str) -> bool:
    """Routes that change the registry or the feedback log: JSON bodies only, no foreign Origin."""
    return method not in ("GET", "HEAD", "OPTIONS") and (
        path.startswith("/api/") or path == "/v1/feedback"
    )
