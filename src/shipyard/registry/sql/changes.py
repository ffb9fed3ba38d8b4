"""Registry change notifications on SQL backends: PostgreSQL notifies, SQLite is polled.

Every change writes an audit event (``SqlRegistryStore.audit``); on PostgreSQL that same transaction
runs ``pg_notify(CHANNEL)``, which listeners receive when it commits (never for a rollback). SQLite
has no notifications: its followers poll ``revision()``, one indexed ``max(id)``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, text

from shipyard.core.errors import Unavailable
from shipyard.registry.changes import ChangeFeed, PollingFeed

CHANNEL = "shipyard_registry"
"""One channel per database: a change in another schema only costs a wasted ``revision()``."""


def notify(conn: Connection) -> None:
    """Within a writing transaction: tell listeners, at commit, that the registry changed."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class PostgresFeed:
    """``LISTEN`` on a connection of its own (autocommit, outside the engine's pool)."""

    notifies = True

    def __init__(self, engine: Engine) -> None:
        import psycopg

        self._errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        try:
            self._conn: Any = psycopg.connect(*args, **{**kwargs, "autocommit": True})
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise Unavailable(f"cannot listen for registry changes: {exc}") from exc

    def wait(self, timeout: float) -> bool:
        try:
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                return True
        except self._errors as exc:
            raise Unavailable(f"lost the registry notification connection: {exc}") from exc
        return False

    def close(self) -> None:
        self._conn.close()


def open_feed(engine: Engine) -> ChangeFeed:
    if engine.dialect.name == "postgresql":
        return PostgresFeed(engine)
    return PollingFeed()
