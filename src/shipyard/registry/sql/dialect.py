"""What differs between the two databases, in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

# PostgreSQL SQLSTATEs meaning "you lost a race, the same statement may succeed now".
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def dialect_insert(conn: Connection) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_*``); only the dialect in use is imported."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def lost_race(exc: DBAPIError) -> bool:
    """Whether a database error is a serialization failure or a deadlock (a race, not a fault)."""
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
