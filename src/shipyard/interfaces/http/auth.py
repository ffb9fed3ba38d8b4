"""The server's front door: browser rules, authentication and the permission of every request.

One pure ASGI middleware, in front of every route, in this order:

1. **Host.** The ``Host`` header must name the bound address (any loopback name when bound to
   loopback) or an ``--allowed-host``: a DNS-rebinding page cannot reach the API through its own name.
2. **Origin.** A request that is not ``GET``/``HEAD``/``OPTIONS`` and carries an ``Origin`` other
   than the server's own or a ``--cors-origin`` is refused (403): no web page can drive the server.
3. **Media type.** State-changing routes (``/api/...`` writes, ``/v1/feedback``) read only
   ``application/json`` (415 otherwise), which browsers cannot send cross-site without a preflight.
4. **Authentication.** Auth is on when any token exists or the server binds a non-loopback address
   (unless ``--insecure-no-auth``). Then ``Authorization: Bearer <token>`` is required: 401 without
   one or with a bad one. Console pages (``/ui``) take the token of the browser's session instead
   (``sessions``): without one, a page redirects to the sign-in form. Health routes stay open; ``/metrics`` is open on a loopback bind;
   predictions and feedback are open with ``--open-predict``. With auth off the caller is
   ``anonymous``: it may read, predict and operate, but never approve, protect or manage tokens.
5. **Permission.** The operation's entry in ``permissions.OPERATIONS`` must be granted by one of the
   principal's roles (403 otherwise); an operation missing from the table is refused.

The principal is left in ``scope["state"]["principal"]``; routes pass its name to the services as
the actor. CORS headers are added only for ``--cors-origin`` origins (Starlette's CORSMiddleware).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.app import Services
from shipyard.core.errors import (
    Conflict,
    Forbidden,
    ShipyardError,
    Unauthenticated,
    UnsupportedMediaType,
)
from shipyard.interfaces.http.config import ServeConfig
from shipyard.interfaces.http.permissions import (
    OPERATIONS,
    PREDICTION_PERMISSIONS,
    state_changing,
)
from shipyard.interfaces.http.requestid import request_id
from shipyard.interfaces.http.responses import error_response
from shipyard.interfaces.http.sessions import CONSOLE, SESSION_COOKIE, SessionStore, cookie
from shipyard.registry.access import ANONYMOUS, Permission, Principal
from shipyard.registry.tokens import hash_secret

CACHE_SECONDS = 1.0
"""How long a verified token (and "do tokens exist") is trusted before the registry is asked again:
a revocation takes effect within this time."""
T = TypeVar("T")
START_CHAIN_TAIL = 1000
"""Audit events whose links the server checks at start (``shipyard audit verify`` checks all)."""
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    if host.strip("[]") in LOOPBACK_NAMES or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def principal(request: Request) -> Principal:
    """The authenticated principal of a request (set by the middleware)."""
    found = request.scope.get("state", {}).get("principal")
    if not isinstance(found, Principal):
        raise Unauthenticated("no principal on this request")
    return found


def startup_checks(services: Services, config: ServeConfig) -> None:
    """Refuse to start without auth on a public address, or on a broken audit chain."""
    if (
        not is_loopback(config.host)
        and not config.insecure_no_auth
        and not services.tokens.any_active()
    ):
        raise Conflict(
            f"refusing to serve on {config.host} without authentication: create a token first "
            "(`shipyard tokens create NAME --role admin`), or pass --insecure-no-auth to serve "
            "this network without one"
        )
    if not config.ignore_audit_chain:
        report = services.registry.verify_audit(tail=START_CHAIN_TAIL)
        if not report.ok:
            raise Conflict(
                f"the audit log has been tampered with: {report.problem}; run "
                "`shipyard audit verify` to see the first broken link, or pass "
                "--ignore-audit-chain to serve anyway"
            )


class _Fresh(Generic[T]):
    """A value from a blocking registry call, reused for ``CACHE_SECONDS``.

    Past half its lifetime the value is refreshed in the background while requests keep using it;
    past its lifetime a request waits for the refresh. One refresh runs at a time, shared by every
    request that needs it: under load, the registry is asked once a second, not once per request
    that found the value stale, and no request waits for it while the value is fresh.
    """

    def __init__(self, fetch: Callable[[], T]) -> None:
        self._fetch = fetch
        self._at = float("-inf")
        self._value: T | ShipyardError | None = None
        self._task: asyncio.Task[None] | None = None

    async def get(self) -> T:
        age = time.monotonic() - self._at
        if age > CACHE_SECONDS:
            await asyncio.shield(self._refresh())  # a caller that goes away leaves it running
        elif age > CACHE_SECONDS / 2:
            self._refresh()
        value = self._value
        if isinstance(value, ShipyardError):
            raise value
        return cast(T, value)

    def _refresh(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
            self._task.add_done_callback(_retrieve)  # a failed background refresh: retried later
        return self._task

    async def _run(self) -> None:
        started = time.monotonic()
        try:
            self._value = await asyncio.to_thread(self._fetch)
        except Unauthenticated as exc:  # a bad token is an answer too, cached like a good one
            self._value = exc
        self._at = started


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class _Cache:
    """Tokens verified within the last second, and whether any token exists."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._principals: dict[str, _Fresh[Principal]] = {}
        self._any = _Fresh(services.tokens.any_active)

    async def any_tokens(self) -> bool:
        return await self._any.get()

    async def authenticate(self, secret: str) -> Principal:
        key = hash_secret(secret)
        fresh = self._principals.get(key)
        if fresh is None:
            if len(self._principals) > 10_000:  # bounded: a flood of bad tokens cannot grow it
                self._principals.clear()
            fresh = self._principals[key] = _Fresh(
                lambda: self.services.tokens.authenticate(secret)
            )
        return await fresh.get()


class Gate:
    """Who is calling and whether they may: shared by the HTTP middleware and the gRPC service, so
    that both ports take the same tokens under the same rules."""

    def __init__(self, services: Services, config: ServeConfig) -> None:
        self.config = config
        self.cache = _Cache(services)
        self.loopback = is_loopback(config.host)

    async def admit(self, authorization: str | None, needed: frozenset[Permission]) -> Principal:
        """The principal behind an ``Authorization`` value, if it holds one of ``needed``."""
        if not needed:
            return ANONYMOUS
        if self.config.open_predict and needed <= PREDICTION_PERMISSIONS:
            return _demand(ANONYMOUS, needed)
        return _demand(await self._authenticate(authorization), needed)

    async def _authenticate(self, header: str | None) -> Principal:
        public = not self.loopback and not self.config.insecure_no_auth
        if public or await self.cache.any_tokens():
            if not header:
                raise Unauthenticated(
                    "this server needs a token: send Authorization: Bearer <token> "
                    "(create one with `shipyard tokens create NAME --role ROLE`)"
                )
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthenticated("the Authorization header must be: Bearer <token>")
            return await self.cache.authenticate(secret.strip())
        return ANONYMOUS  # loopback (or --insecure-no-auth) and no token exists yet


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        services: Services,
        config: ServeConfig,
        routes: Callable[[], list[BaseRoute]],
        sessions: SessionStore | None = None,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.config = config
        self.routes = routes
        self.gate = Gate(services, config)
        self.loopback = self.gate.loopback
        self.origins = frozenset(o.rstrip("/").lower() for o in config.cors_origins)
        self.hosts = frozenset(h.lower() for h in config.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            scope.setdefault("state", {})["principal"] = await self._admit(scope)
        except ShipyardError as exc:
            if _console(scope["path"]):
                await _console_refusal(exc, scope)(scope, receive, send)
                return
            response = error_response(exc, "native", request_id(scope))
            if isinstance(exc, Unauthenticated):
                response.headers["www-authenticate"] = 'Bearer realm="shipyard"'
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    # -- the checks, in order -------------------------------------------------------------------------

    async def _admit(self, scope: Scope) -> Principal:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        self._check_host(headers.get("host", ""))
        if method not in ("GET", "HEAD", "OPTIONS"):
            self._check_origin(headers.get("origin"), headers.get("host", ""))
        if state_changing(method, path):
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                raise UnsupportedMediaType(
                    f"{method} {path} reads only application/json, got {media or 'no content-type'}"
                )
        needed = self._operation(scope)
        authorization = headers.get("authorization")
        if _console(path):  # the browser's session stands for the token
            authorization = self._session_authorization(scope, headers)
        if needed is None:
            return ANONYMOUS  # no such route: the router answers 404/405
        if not needed:
            return ANONYMOUS
        if path == "/metrics" and self.loopback and not self.config.protect_metrics:
            return ANONYMOUS
        return await self.gate.admit(authorization, needed)

    def _session_authorization(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """The session's token as an Authorization value (None: no session); the session is left
        in ``scope["state"]["session"]`` for the console's CSRF check."""
        if self.sessions is None:
            return None
        session = self.sessions.get(cookie(headers, SESSION_COOKIE))
        scope["state"]["session"] = session
        return None if session is None else f"Bearer {session.secret}"

    def _check_host(self, host: str) -> None:
        name = _hostname(host)
        if name in self.hosts:
            return
        bound = self.config.host.strip("[]").lower()
        if self.loopback:
            if is_loopback(name):
                return
        elif bound in WILDCARDS:
            if not self.hosts:
                return  # bound to every interface: the token, not the name, protects it
        elif name == bound:
            return
        raise Forbidden(
            f"Host {host!r} is not this server's address; start it with --allowed-host "
            f"{name or 'NAME'} to accept that name"
        )

    def _check_origin(self, origin: str | None, host: str) -> None:
        if origin is None:
            return
        normalised = origin.rstrip("/").lower()
        if normalised in self.origins:
            return
        if normalised.split("://", 1)[-1] == host.lower():
            return  # same origin
        raise Forbidden(
            f"requests from the web page at {origin} are refused; allow it with --cors-origin"
        )

    def _operation(self, scope: Scope) -> frozenset[Permission] | None:
        """The permissions of the matching route; None when no route matches (404/405 follow)."""
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        for route in self.routes():
            match, _ = route.matches(scope)
            if match == Match.NONE:
                continue
            template = str(getattr(route, "path", ""))
            key = (method, template)
            if match == Match.FULL:
                if key in OPERATIONS:
                    return OPERATIONS[key]
                raise Forbidden(f"{method} {template} has no permission rule; refused")
        return None  # no route, or the wrong method: the router answers 404 or 405


def _console(path: str) -> bool:
    return path == CONSOLE or path.startswith(CONSOLE + "/")


def _console_refusal(exc: ShipyardError, scope: Scope) -> Response:
    """A console page refused: to the sign-in form when a token is missing, else a short page."""
    from html import escape
    from urllib.parse import quote

    if isinstance(exc, Unauthenticated) and scope["method"] in ("GET", "HEAD"):
        target = scope["path"] + (
            f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        )
        return RedirectResponse(f"{CONSOLE}/sign-in?next={quote(target, safe='')}", status_code=303)
    from shipyard.interfaces.http.errors import status_of

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shipyard: refused</title>'
        f"</head><body><main><h1>Refused</h1><p>{escape(str(exc))}</p>"
        f'<p><a href="{CONSOLE}/sign-in">Sign in</a> · <a href="{CONSOLE}">Overview</a></p>'
        "</main></body></html>"
    )
    return HTMLResponse(body, status_code=status_of(exc))


def _demand(who: Principal, needed: frozenset[Permission]) -> Principal:
    if any(who.can(p) for p in needed):
        return who
    who.require(min(needed))  # raises Forbidden naming a permission and the roles that grant it
    return who


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
