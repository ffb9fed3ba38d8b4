"""An ASGI app served in process: its lifespan runs on a private event loop, and tests call it
through httpx's ``ASGITransport`` with plain synchronous calls."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette

T = TypeVar("T")


class InProcessServer:
    def __init__(self, app: Starlette, base_url: str = "http://127.0.0.1") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stack = contextlib.AsyncExitStack()
        self._run(self._stack.enter_async_context(app.router.lifespan_context(app)))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=60
        )

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._run(self.client.get(url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._run(self.client.post(url, **kwargs))

    def close(self) -> None:
        try:
            self._run(self.client.aclose())
            self._run(self._stack.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
