"""Pure ASGI middleware: every response carries X-Request-ID (the caller's, or a new one)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"


def request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id") or "")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = b""
        for key, value in scope["headers"]:
            if key == HEADER:
                rid = value[:200]
                break
        if not rid:
            rid = uuid.uuid4().hex.encode()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid.decode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == HEADER for k, _ in headers):
                    headers.append((HEADER, rid))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
