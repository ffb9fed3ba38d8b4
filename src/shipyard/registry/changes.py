"""How a server learns that the registry changed, whatever the backend.

A ``ChangeFeed`` blocks until the registry may have changed or a timeout passes; the follower then
reads ``revision()`` to see what moved. Backends that can notify (PostgreSQL ``LISTEN/NOTIFY``) wake
it at once; the others (SQLite) hand out a ``PollingFeed`` and the follower polls ``revision()``.
"""

from __future__ import annotations

import threading
from typing import Protocol


class ChangeFeed(Protocol):
    notifies: bool
    """True when ``wait`` returns early on a change; False when the caller must poll."""

    def wait(self, timeout: float) -> bool:
        """Block until the registry may have changed (True) or ``timeout`` seconds passed (False)."""
        ...

    def close(self) -> None: ...


class PollingFeed:
    """No notifications: ``wait`` sleeps (``close`` interrupts it)."""

    notifies = False

    def __init__(self) -> None:
        self._closed = threading.Event()

    def wait(self, timeout: float) -> bool:
        self._closed.wait(timeout)
        return False

    def close(self) -> None:
        self._closed.set()
