"""Leases with fencing tokens: who may act for the whole registry (the controller), and proof of it.

A lease is a row: a name, a holder, an expiry and an **epoch**. A holder renews its lease before it
expires; anyone may take an expired (or released) lease, and every takeover increments the epoch. The
epoch is the fencing token: the holder's writes carry it (a ``Fence``), and the store checks it in the
same transaction as the write, refusing it with ``StaleLease`` when the lease has since been taken
over or has expired. So a holder that stalled past its lease (paused, swapped out, stuck in a call)
and wakes up cannot act twice on what its successor already did.

The fence travels with the work rather than through every signature: ``fenced(fence)`` sets it for
the current context (a thread, or a task copied with ``contextvars.copy_context``), and every write
transaction the store opens there checks it. A write made for the controller by any service (moving
an alias, tagging a version, recording a metric) is therefore fenced without having to remember to be.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    epoch: int
    """Grows by one at each takeover; renewals by the same holder keep it."""
    expires_at: dt.datetime

    @property
    def fence(self) -> Fence:
        return Fence(self.name, self.holder, self.epoch)


@dataclass(frozen=True)
class Fence:
    """What a write made under a lease must prove: the lease is still ``holder``'s, at ``epoch``."""

    lease: str
    holder: str
    epoch: int


_current: contextvars.ContextVar[Fence | None] = contextvars.ContextVar(
    "shipyard_fence", default=None
)


def current_fence() -> Fence | None:
    """The fence the writes of this context must pass, if any."""
    return _current.get()


@contextmanager
def fenced(fence: Fence | None) -> Iterator[None]:
    """Make every registry write in this context conditional on ``fence``."""
    token = _current.set(fence)
    try:
        yield
    finally:
        _current.reset(token)


class LeaseStore(Protocol):
    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        """Take or renew ``name`` for ``holder``; None while someone else holds a live lease.

        Taking a lease that was free, released, expired or held by another increments its epoch;
        renewing one's own live lease keeps it.
        """
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Let ``name`` go now (if ``holder`` has it); the epoch is kept, so the next taker's grows."""
        ...

    def get_lease(self, name: str) -> Lease | None: ...
