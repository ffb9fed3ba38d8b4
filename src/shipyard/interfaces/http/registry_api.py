"""The registry over HTTP: models, versions, aliases, approvals, protection, audit and tokens.

What the remote CLI and the SDK's ``Client(url, token=...)`` call instead of opening the database.
Each handler makes one service call with the request's verified principal as the actor; the
permission of each route is in ``permissions.OPERATIONS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.management import Handler, actor
from shipyard.interfaces.http.management import api as raw_api
from shipyard.interfaces.http.schemas import json_object
from shipyard.interfaces.serialize import plain
from shipyard.registry.access import Permission


def api(
    handler: Callable[[Request, Services, dict[str, Any]], Any],
    *,
    body: bool = False,
    created: bool = True,
) -> Callable[[Request], Awaitable[Response]]:
    """A management route whose handler reads the body as a JSON object."""

    def on_object(request: Request, s: Services, raw: bytes) -> Any:
        return handler(request, s, json_object(raw))

    wrapped: Handler = on_object
    return raw_api(wrapped, body=body, created=created)


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(f"{field!r} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"{field!r} must be an integer, got {value!r}") from None


def _str(doc: dict[str, Any], field: str, default: str = "") -> str:
    value = doc.get(field, default)
    if not isinstance(value, str):
        raise InvalidArgument(f"{field!r} must be a string, got {value!r}")
    return value


def _path(request: Request, *names: str) -> list[str]:
    return [str(request.path_params[n]) for n in names]


def _version(request: Request) -> int:
    return _int(request.path_params["version"], "version")


# -- models and versions ----------------------------------------------------------------------------


def _models(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    prefix = request.query_params.get("prefix")
    return s.registry.list_models(prefix=prefix or None)


def _model(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    [name] = _path(request, "name")
    return {"model": s.registry.get_model(name), "versions": s.registry.list_versions(name)}


def _versions(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    [name] = _path(request, "name")
    return s.registry.list_versions(name)


def _version_show(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    [name] = _path(request, "name")
    mv = s.registry.get_version(name, _version(request))
    return {"version": mv, "manifest": plain(s.registry.manifest(mv))}


# -- aliases ----------------------------------------------------------------------------------------


def require_protect_if_protected(request: Request, s: Services, name: str, alias: str) -> None:
    """A protected alias is moved by hand only by those who may protect (rollouts move it too)."""
    if s.governance.protected(name, alias) is not None:
        principal(request).require(Permission.PROTECT)


def _alias_show(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name, alias = _path(request, "name", "alias")
    return s.registry.get_alias(name, alias)


def _alias_history(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name, alias = _path(request, "name", "alias")
    return s.registry.alias_history(name, alias)


def _alias_set(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name, alias = _path(request, "name", "alias")
    if "version" not in doc:
        raise InvalidArgument("'version' (the version the alias points to) is required")
    version = _int(doc["version"], "version")
    require_protect_if_protected(request, s, name, alias)
    return s.registry.set_alias(
        name, alias, version, reason=_str(doc, "reason"), actor=actor(request)
    )


def _alias_delete(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name, alias = _path(request, "name", "alias")
    require_protect_if_protected(request, s, name, alias)
    return s.registry.delete_alias(name, alias, reason=_str(doc, "reason"), actor=actor(request))


# -- approvals and protection -----------------------------------------------------------------------


def _approvals(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    [name] = _path(request, "name")
    return s.governance.status(name, _version(request))


def _decide(decision: str) -> Any:
    def run(request: Request, s: Services, doc: dict[str, Any]) -> Any:
        [name] = _path(request, "name")
        decide = s.governance.approve if decision == "approve" else s.governance.reject
        return decide(name, _version(request), actor=actor(request), comment=_str(doc, "comment"))

    return run


def _protection(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    [name] = _path(request, "name")
    return s.governance.list_protected(name)


def _protect(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name, alias = _path(request, "name", "alias")
    return s.governance.protect(
        name, alias, _int(doc.get("approvals", 1), "approvals"), actor=actor(request)
    )


def _unprotect(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    name, alias = _path(request, "name", "alias")
    s.governance.unprotect(name, alias, actor=actor(request))
    return {"name": name, "alias": alias, "protected": False}


# -- audit and tokens -------------------------------------------------------------------------------


def _audit(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    q = request.query_params
    return s.registry.audit(
        action=q.get("action") or None,
        target=q.get("target") or None,
        limit=_int(q.get("limit", "100"), "limit"),
    )


def _audit_verify(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    return s.registry.verify_audit()


def _tokens(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    return s.tokens.list()


def _token_create(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    roles = doc.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidArgument("'roles' must be a list of role names")
    seconds = doc.get("expires_in_seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
        raise InvalidArgument(f"'expires_in_seconds' must be a number, got {seconds!r}")
    issued = s.tokens.create(
        _str(doc, "name"),
        roles,
        actor=actor(request),
        expires_in=None if seconds is None else dt.timedelta(seconds=float(seconds)),
    )
    return {"token": issued.token, "secret": issued.secret}


def _token_revoke(request: Request, s: Services, doc: dict[str, Any]) -> Any:
    [name] = _path(request, "name")
    return s.tokens.revoke(name, actor=actor(request))


M = "/api/models/{name}"
routes = [
    Route("/api/models", api(_models), methods=["GET"]),
    Route(M, api(_model), methods=["GET"]),
    Route(f"{M}/versions", api(_versions), methods=["GET"]),
    Route(f"{M}/versions/{{version}}", api(_version_show), methods=["GET"]),
    Route(f"{M}/aliases/{{alias}}", api(_alias_show), methods=["GET"]),
    Route(f"{M}/aliases/{{alias}}", api(_alias_set, body=True, created=False), methods=["PUT"]),
    Route(f"{M}/aliases/{{alias}}", api(_alias_delete, body=True), methods=["DELETE"]),
    Route(f"{M}/aliases/{{alias}}/history", api(_alias_history), methods=["GET"]),
    Route(f"{M}/versions/{{version}}/approvals", api(_approvals), methods=["GET"]),
    Route(
        f"{M}/versions/{{version}}/approve",
        api(_decide("approve"), body=True, created=False),
        methods=["POST"],
    ),
    Route(
        f"{M}/versions/{{version}}/reject",
        api(_decide("reject"), body=True, created=False),
        methods=["POST"],
    ),
    Route(f"{M}/protection", api(_protection), methods=["GET"]),
    Route(f"{M}/protection/{{alias}}", api(_protect, body=True), methods=["PUT"]),
    Route(f"{M}/protection/{{alias}}", api(_unprotect, body=True), methods=["DELETE"]),
    Route("/api/audit", api(_audit), methods=["GET"]),
    Route("/api/audit/verify", api(_audit_verify), methods=["GET"]),
    Route("/api/tokens", api(_tokens), methods=["GET"]),
    Route("/api/tokens", api(_token_create, body=True), methods=["POST"]),
    Route("/api/tokens/{name}", api(_token_revoke, body=True), methods=["DELETE"]),
]
