"""The LeaseStore contract and fencing, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from shipyard.core.errors import StaleLease
from shipyard.registry.entities import NewVersion
from shipyard.registry.leases import LeaseStore, fenced
from shipyard.registry.sql.leases import SqlLeaseStore
from shipyard.registry.sql.store import SqlRegistryStore


@pytest.fixture
def leases(store: SqlRegistryStore) -> LeaseStore:
    return SqlLeaseStore(store)


def _new() -> NewVersion:
    return NewVersion(digest="sha256:" + "a" * 64, manifest_blob="x", flavor="python", size_bytes=1)


def wait_until_expired(leases: LeaseStore, name: str) -> None:
    lease = leases.get_lease(name)
    assert lease is not None
    deadline = time.monotonic() + 30
    while time.time() <= lease.expires_at.timestamp():  # the lease's own clock, not a fixed sleep
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_live_lease_has_one_holder_and_renewals_keep_the_epoch(leases: LeaseStore) -> None:
    first = leases.acquire_lease("ctl", "a", 30)
    assert first is not None and (first.holder, first.epoch) == ("a", 1)
    assert leases.acquire_lease("ctl", "b", 30) is None
    renewed = leases.acquire_lease("ctl", "a", 30)
    assert renewed is not None and renewed.epoch == 1 and renewed.expires_at >= first.expires_at
    assert leases.get_lease("ctl") == renewed
    assert leases.get_lease("other") is None


def test_every_takeover_grows_the_epoch(leases: LeaseStore) -> None:
    assert leases.acquire_lease("ctl", "a", 0.05) is not None
    wait_until_expired(leases, "ctl")
    taken = leases.acquire_lease("ctl", "b", 30)
    assert taken is not None and taken.epoch == 2
    leases.release_lease("ctl", "a")  # not a's any more: no effect
    assert leases.acquire_lease("ctl", "a", 30) is None
    leases.release_lease("ctl", "b")
    again = leases.acquire_lease("ctl", "a", 30)
    assert again is not None and again.epoch == 3


def test_writes_under_a_stale_fence_are_refused(
    store: SqlRegistryStore, leases: LeaseStore
) -> None:
    old = leases.acquire_lease("ctl", "a", 1.0)  # long enough for one write on a busy machine
    assert old is not None
    with fenced(old.fence):
        store.create_version("m", _new(), actor="a")  # live lease: accepted
    wait_until_expired(leases, "ctl")
    before = store.revision()
    with fenced(old.fence), pytest.raises(StaleLease, match="it expired"):
        store.set_tag("m", 1, "k", "v", actor="a")  # expired, even with nobody else holding it
    new = leases.acquire_lease("ctl", "b", 30)
    assert new is not None and new.epoch == 2
    with fenced(old.fence), pytest.raises(StaleLease, match="b holds it at epoch 2"):
        store.set_alias("m", "champion", 1, actor="a")
    assert store.revision() == before + 1  # only b's takeover was recorded
    with fenced(new.fence):
        store.set_alias("m", "champion", 1, actor="b")
    assert store.get_alias("m", "champion").updated_by == "b"
