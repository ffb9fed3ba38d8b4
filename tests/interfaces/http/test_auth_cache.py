"""The server's token cache asks the registry once per refresh, whatever the number of requests."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shipyard.core.errors import Unauthenticated, Unavailable
from shipyard.interfaces.http.auth import CACHE_SECONDS, _Fresh


class Registry:
    """A blocking registry call that answers when released, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.fail: Exception | None = None

    def fetch(self) -> int:
        self.calls += 1
        assert self.release.wait(30)
        if self.fail is not None:
            raise self.fail
        return self.calls


def test_stale_requests_share_one_refresh() -> None:
    registry = Registry()

    async def main() -> None:
        fresh = _Fresh(registry.fetch)
        waiting = [asyncio.ensure_future(fresh.get()) for _ in range(32)]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiting)  # nothing known yet: they wait
        registry.release.set()
        assert await asyncio.gather(*waiting) == [1] * 32
        assert registry.calls == 1
        assert await fresh.get() == 1 and registry.calls == 1  # fresh: no call

    asyncio.run(main())


def test_an_ageing_value_is_refreshed_in_the_background() -> None:
    registry = Registry()

    async def main() -> None:
        fresh = _Fresh(registry.fetch)
        registry.release.set()
        assert await fresh.get() == 1
        registry.release.clear()
        fresh._at = time.monotonic() - 0.75 * CACHE_SECONDS  # past half its lifetime
        assert await asyncio.wait_for(fresh.get(), 5) == 1  # answered at once, with the old value
        assert await asyncio.wait_for(fresh.get(), 5) == 1
        for _ in range(500):  # the refresh's thread starts
            if registry.calls == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert registry.calls == 2  # one refresh started, not one per request
        registry.release.set()
        for _ in range(500):
            if await fresh.get() == 2:
                break
            await asyncio.sleep(0.01)
        assert await fresh.get() == 2 and registry.calls == 2

    asyncio.run(main())


def test_a_refused_token_is_cached_and_a_registry_failure_is_raised_then_retried() -> None:
    registry = Registry()
    registry.release.set()

    async def main() -> None:
        refused = _Fresh(registry.fetch)
        registry.fail = Unauthenticated("unknown token")
        for _ in range(2):
            with pytest.raises(Unauthenticated):
                await refused.get()
        assert registry.calls == 1
        down = _Fresh(registry.fetch)
        registry.fail = Unavailable("registry database error")
        with pytest.raises(Unavailable):
            await down.get()
        registry.fail = None
        assert await down.get() == 3  # not cached: asked again

    asyncio.run(main())
