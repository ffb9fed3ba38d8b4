"""Leases and their fencing tokens in the registry database (see ``registry.leases``).

PostgreSQL: taking a lease locks its row (``FOR UPDATE``) and a fenced write locks it shared
(``FOR SHARE``) while it checks the token, so a takeover waits for writes in flight under the old
epoch and every later write under that epoch is refused. SQLite: write transactions are serialised
by ``BEGIN IMMEDIATE``, which gives the same order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select, update

from shipyard.core.errors import StaleLease
from shipyard.registry.leases import Fence, Lease, fenced
from shipyard.registry.sql.clock import now_us, to_datetime
from shipyard.registry.sql.dialect import dialect_insert
from shipyard.registry.sql.tables import leases

if TYPE_CHECKING:
    from shipyard.registry.sql.store import SqlRegistryStore

log = logging.getLogger("shipyard.registry")


def _lease(row: Row[Any]) -> Lease:
    return Lease(row.name, row.holder, int(row.epoch), to_datetime(row.expires_at))


def check_fence(conn: Connection, fence: Fence) -> None:
    """Refuse (``StaleLease``) unless ``fence`` names the live lease's current holder and epoch."""
    row = conn.execute(
        select(leases).where(leases.c.name == fence.lease).with_for_update(read=True)
    ).first()
    if (
        row is not None
        and row.holder == fence.holder
        and int(row.epoch) == fence.epoch
        and row.expires_at > now_us()
    ):
        return
    if row is None:
        now = "nobody holds it"
    elif int(row.epoch) != fence.epoch or row.holder != fence.holder:
        now = f"{row.holder} holds it at epoch {row.epoch}"
    else:
        now = "it expired"
    log.warning(
        "refused a write by %s under lease %r epoch %d: %s",
        fence.holder,
        fence.lease,
        fence.epoch,
        now,
    )
    raise StaleLease(
        f"write refused: lease {fence.lease!r} epoch {fence.epoch} of {fence.holder} is stale "
        f"({now})"
    )


class SqlLeaseStore:
    def __init__(self, registry: SqlRegistryStore) -> None:
        self.registry = registry

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        with fenced(None), self.registry.write() as conn:  # the lease itself is never fenced
            row = conn.execute(
                select(leases).where(leases.c.name == name).with_for_update()
            ).first()
            at = now_us()
            expires = at + int(ttl_seconds * 1_000_000)
            if row is None:
                taken = conn.execute(
                    dialect_insert(conn)(leases)
                    .values(name=name, holder=holder, expires_at=expires, epoch=1)
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(leases.c.epoch)
                ).first()
                if taken is None:  # another holder inserted it first
                    return None
                self.registry.audit(conn, holder, "lease.take", name, {"epoch": 1}, at)
                return Lease(name, holder, 1, to_datetime(expires))
            live = row.expires_at > at
            if live and row.holder != holder:
                return None
            epoch = int(row.epoch) if live else int(row.epoch) + 1
            conn.execute(
                update(leases)
                .where(leases.c.name == name)
                .values(holder=holder, expires_at=expires, epoch=epoch)
            )
            if epoch != row.epoch:
                self.registry.audit(
                    conn, holder, "lease.take", name, {"from": row.holder, "epoch": epoch}, at
                )
            return Lease(name, holder, epoch, to_datetime(expires))

    def release_lease(self, name: str, holder: str) -> None:
        with fenced(None), self.registry.write() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=0)
            )

    def get_lease(self, name: str) -> Lease | None:
        with self.registry.read() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return None if row is None else _lease(row)
