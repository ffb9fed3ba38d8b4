"""Drawing console pages: one Jinja2 environment (autoescape on), the request's context, and the
wrappers that turn a page or a button's handler into a Starlette endpoint.

A page handler is a plain function ``(Request, Services) -> dict``, run off the event loop (the
services are synchronous); its dict becomes the template's context. A button's handler is
``(Request, Services, Form) -> (location, note)``: the form is checked for its CSRF token before the
handler runs, and the browser is sent back to ``location`` (303). Errors of the services become a
page with the right status, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from shipyard.app import Services
from shipyard.core import templates
from shipyard.core.errors import Forbidden, InvalidArgument, ShipyardError
from shipyard.interfaces.http.auth import principal
from shipyard.interfaces.http.errors import status_of
from shipyard.interfaces.http.sessions import (
    CONSOLE,
    CSRF_COOKIE,
    CSRF_FIELD,
    Session,
    SessionStore,
    same,
)
from shipyard.registry.access import Permission

MAX_FORM_BYTES = 64 * 1024
NOTE_CHARS = 300
Form = dict[str, str]
PageHandler = Callable[[Request, Services], dict[str, Any]]
ActionHandler = Callable[[Request, Services, Form], tuple[str, str]]
Endpoint = Callable[[Request], Awaitable[Response]]
SECURITY_HEADERS = {
    # nothing but this server: scripts, styles, images, fetches and the event stream
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class Console:
    """What console routes share: the services, the sessions and the templates."""

    def __init__(self, services: Services, sessions: SessionStore) -> None:
        self.services = services
        self.sessions = sessions
        self.templates = environment()


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def environment() -> jinja2.Environment:
    """The console's templates, in the one page environment (``core.templates``)."""
    env = templates.environment("shipyard.interfaces.console")
    env.filters["when"] = when
    env.filters["num"] = num
    env.filters["tojson_script"] = json_script
    env.globals["CONSOLE"] = CONSOLE
    return env


def when(value: dt.datetime | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def num(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def json_script(value: object) -> Markup:
    """``value`` as JSON safe inside ``<script type="application/json">``: no ``</script>`` can
    end it early, since every ``<``, ``>`` and ``&`` is escaped."""
    text = json.dumps(value, default=str, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _session(request: Request) -> Session | None:
    found = request.scope.get("state", {}).get("session")
    return found if isinstance(found, Session) else None


def csrf_token(request: Request) -> tuple[str, bool]:
    """The token forms must carry, and whether it is new (then set as the double-submit cookie)."""
    session = _session(request)
    if session is not None:
        return session.csrf, False
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path=CONSOLE,
        secure=request.url.scheme == "https",
    )


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> HTMLResponse:
    who = principal(request)
    token, fresh = csrf_token(request)
    body = (
        console_of(request)
        .templates.get_template(template)
        .render(
            **context,
            principal=who,
            signed_in=_session(request) is not None,
            can={p.value: who.can(p) for p in Permission},
            csrf=token,
            csrf_field=CSRF_FIELD,
            path=request.url.path,
            note=request.query_params.get("note", "")[:NOTE_CHARS],
            error=request.query_params.get("error", "")[:NOTE_CHARS],
        )
    )
    response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
    if fresh:
        set_csrf_cookie(response, request, token)
    return response


def error_page(request: Request, exc: ShipyardError) -> HTMLResponse:
    return render(request, "error.html", {"message": str(exc)}, status=status_of(exc))


def page(template: str, handler: PageHandler) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        services = console_of(request).services
        try:
            context = await run_in_threadpool(handler, request, services)
        except ShipyardError as exc:
            return error_page(request, exc)
        return render(request, template, context)

    return endpoint


async def read_form(request: Request) -> Form:
    """An ``application/x-www-form-urlencoded`` body, bounded; one value per field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidArgument(f"the form is larger than {MAX_FORM_BYTES} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media != "application/x-www-form-urlencoded":
        raise InvalidArgument(f"a console form is application/x-www-form-urlencoded, got {media}")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


def check_csrf(request: Request, form: Form) -> None:
    expected, fresh = csrf_token(request)
    if fresh or not same(form.get(CSRF_FIELD), expected):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page and try again")


def action(handler: ActionHandler) -> Endpoint:
    """A button: CSRF-checked form in, one service call, then back to a page (303)."""

    async def endpoint(request: Request) -> Response:
        services = console_of(request).services
        try:
            form = await read_form(request)
            check_csrf(request, form)
        except ShipyardError as exc:
            return error_page(request, exc)
        back = form.get("back", "")
        if not back.startswith(CONSOLE) or back.startswith("//"):
            back = CONSOLE
        try:
            location, note = await run_in_threadpool(handler, request, services, form)
        except ShipyardError as exc:
            return redirect(back, error=str(exc))
        return redirect(location or back, note=note)

    return endpoint


def redirect(location: str, **query: str) -> RedirectResponse:
    base, _, _ = location.partition("?")
    params = {k: v[:NOTE_CHARS] for k, v in query.items() if v}
    return RedirectResponse(
        base + (f"?{urlencode(params)}" if params else ""),
        status_code=303,
        headers={"cache-control": "no-store"},
    )
