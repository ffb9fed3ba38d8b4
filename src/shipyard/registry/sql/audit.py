"""The audit log as a hash chain: an edited, deleted or reordered event is detectable.

Each event stores ``prev_hash`` (the previous event's ``hash``; 64 zeros for the first) and ``hash``:
the SHA-256 of a canonical encoding of ``prev_hash``, its id, time, actor, action, target and details
(JSON with sorted keys, no whitespace, ASCII only). The single ``audit_chain`` row holds the id and
hash of the last event, so removing events from the end is detectable too.

Appends are serialised: the appending transaction locks the chain's head row (PostgreSQL ``SELECT ...
FOR UPDATE``; SQLite write transactions already hold the database's write lock from ``BEGIN
IMMEDIATE``), so two writers can never both chain onto the same predecessor.

The chain makes tampering *evident*, it does not prevent it: someone who can rewrite the whole table
and the head row can forge a consistent chain. Copy ``shipyard audit verify --json`` output (it prints
the head's hash) somewhere else to anchor it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from shipyard.registry.entities import ChainReport
from shipyard.registry.sql.clock import after
from shipyard.registry.sql.tables import audit_chain, audit_events

GENESIS = "0" * 64


def canonical(
    prev_hash: str,
    event_id: int,
    at: int,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
) -> bytes:
    """The bytes an event's hash covers (stable across SQLite and PostgreSQL)."""
    return json.dumps(
        [prev_hash, int(event_id), int(at), actor, action, target, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    ).encode()


def event_hash(
    prev_hash: str,
    event_id: int,
    at: int,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
) -> str:
    return hashlib.sha256(
        canonical(prev_hash, event_id, at, actor, action, target, details)
    ).hexdigest()


def normalise(details: Mapping[str, Any]) -> dict[str, Any]:
    """Details as they read back from the JSON column, so the hash is computed on what is stored."""
    out: dict[str, Any] = json.loads(json.dumps(dict(details), default=str))
    return out


def event_time(conn: Connection) -> int:
    """The time of the change ``conn``'s write transaction makes: call it before anything else.

    It is read once the transaction holds the lock that orders audited writes: SQLite's write lock
    (taken by ``BEGIN IMMEDIATE``), on PostgreSQL the chain's head row, locked here first (so every
    audited write takes its locks in the same order: lease, head, then the rows it changes). Times
    therefore follow commit order, and are strictly after the last event's (a clock that stepped
    back never reorders history), so "what was true at T" has one answer.
    """
    last_id, _ = _head(conn)
    last = conn.execute(select(audit_events.c.at).where(audit_events.c.id == last_id)).scalar()
    return after(None if last is None else int(last))


def _head(conn: Connection) -> tuple[int, str]:
    query = select(audit_chain.c.last_id, audit_chain.c.last_hash).where(audit_chain.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        conn.execute(insert(audit_chain).values(id=1, last_id=0, last_hash=GENESIS))
        return 0, GENESIS
    return int(row.last_id), str(row.last_hash)


def append(
    conn: Connection, actor: str, action: str, target: str, details: Mapping[str, Any], at: int
) -> int:
    """Add one event at the end of the chain inside ``conn``'s write transaction; its id."""
    _, prev = _head(conn)  # locks the head first: appends are serialised
    stored = normalise(details)
    event_id = conn.execute(
        insert(audit_events)
        .values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            details=stored,
            prev_hash=prev,
            hash="",
        )
        .returning(audit_events.c.id)
    ).scalar_one()
    digest = event_hash(prev, event_id, at, actor, action, target, stored)
    conn.execute(update(audit_events).where(audit_events.c.id == event_id).values(hash=digest))
    conn.execute(
        update(audit_chain).where(audit_chain.c.id == 1).values(last_id=event_id, last_hash=digest)
    )
    return int(event_id)


def verify(conn: Connection, *, tail: int | None = None, batch: int = 5000) -> ChainReport:
    """Check every link (or the last ``tail`` ones) and the head; report the first broken one."""
    head = conn.execute(select(audit_chain).where(audit_chain.c.id == 1)).first()
    head_id, head_hash = (0, GENESIS) if head is None else (int(head.last_id), str(head.last_hash))
    start_after = 0
    expected_prev: str | None = GENESIS
    if tail is not None:
        last = int(conn.execute(select(func.coalesce(func.max(audit_events.c.id), 0))).scalar_one())
        start_after = max(0, last - tail)
        expected_prev = None  # the first checked event's predecessor is read from the table
        if start_after > 0:
            before = conn.execute(
                select(audit_events.c.hash)
                .where(audit_events.c.id <= start_after)
                .order_by(audit_events.c.id.desc())
                .limit(1)
            ).first()
            expected_prev = None if before is None else str(before.hash)
        else:
            expected_prev = GENESIS
    checked = 0
    last_id, last_hash = 0, GENESIS
    cursor = start_after
    while True:
        rows = conn.execute(
            select(audit_events)
            .where(audit_events.c.id > cursor)
            .order_by(audit_events.c.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if expected_prev is not None and row.prev_hash != expected_prev:
                return ChainReport(
                    False,
                    checked,
                    head_id,
                    head_hash,
                    broken_at=int(row.id),
                    problem=(
                        f"event {row.id} does not follow the event before it (its prev_hash "
                        f"{row.prev_hash[:12]} is not {expected_prev[:12]}): an event before it "
                        "was deleted, edited or moved"
                    ),
                )
            recomputed = event_hash(
                row.prev_hash, row.id, row.at, row.actor, row.action, row.target, row.details
            )
            if recomputed != row.hash:
                return ChainReport(
                    False,
                    checked,
                    head_id,
                    head_hash,
                    broken_at=int(row.id),
                    problem=f"event {row.id} was changed after it was written (hash mismatch)",
                )
            expected_prev = str(row.hash)
            last_id, last_hash = int(row.id), str(row.hash)
            checked += 1
        cursor = int(rows[-1].id)
    if (checked and (last_id, last_hash) != (head_id, head_hash)) or (
        not checked and tail is None and head_id != 0
    ):
        return ChainReport(
            False,
            checked,
            head_id,
            head_hash,
            problem=(
                f"the chain's head names event {head_id} but the last event is {last_id}: "
                "events were removed from the end, or the head was edited"
            ),
        )
    return ChainReport(True, checked, head_id, head_hash)
