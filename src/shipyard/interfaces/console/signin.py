"""Signing in and out: a token given once becomes a server-side session (see ``http.sessions``)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.errors import ShipyardError, Unauthenticated
from shipyard.interfaces.console.render import (
    check_csrf,
    console_of,
    read_form,
    redirect,
    render,
)
from shipyard.interfaces.http.sessions import CONSOLE, SESSION_COOKIE


def _next(target: str | None) -> str:
    """Only a console path: a sign-in link cannot send the browser anywhere else."""
    if target and target.startswith(CONSOLE) and not target.startswith("//"):
        return target
    return CONSOLE


async def sign_in_form(request: Request) -> Response:
    return render(
        request, "sign_in.html", {"next": _next(request.query_params.get("next")), "failed": ""}
    )


async def sign_in(request: Request) -> Response:
    console = console_of(request)
    try:
        form = await read_form(request)
        check_csrf(request, form)
        secret = form.get("token", "").strip()
        if not secret:
            raise Unauthenticated("enter a token (create one with `shipyard tokens create`)")
        who = await run_in_threadpool(console.services.tokens.authenticate, secret)
    except ShipyardError as exc:
        context = {"next": _next(request.query_params.get("next")), "failed": str(exc)}
        return render(request, "sign_in.html", context, status=401)
    session = console.sessions.open(secret, who.name)
    response = redirect(_next(form.get("next")))
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="strict",
        path=CONSOLE,
        secure=request.url.scheme == "https",
    )
    return response


async def sign_out(request: Request) -> Response:
    try:
        check_csrf(request, await read_form(request))
    except ShipyardError as exc:
        return render(request, "error.html", {"message": str(exc)}, status=403)
    console_of(request).sessions.close(request.cookies.get(SESSION_COOKIE))
    response = redirect(f"{CONSOLE}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE)
    return response
