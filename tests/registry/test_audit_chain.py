"""The audit chain catches an edited, a deleted and a reordered event, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.registry.sql.tables import audit_events


@pytest.fixture
def chained(store: SqlRegistryStore) -> Iterator[SqlRegistryStore]:
    """A store with five audit events (ids 1..5) and an intact chain."""
    for i in range(5):
        store.add_audit("alice", "job.run", f"job/{i}", {"n": i, "score": 0.1 * i})
    report = store.verify_audit()
    assert report.ok and report.checked == 5 and report.head_id == 5
    yield store


def _exec(store: SqlRegistryStore, *statements: sa.Executable) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def test_an_edited_event_is_named(chained: SqlRegistryStore) -> None:
    _exec(chained, sa.update(audit_events).where(audit_events.c.id == 3).values(actor="mallory"))
    report = chained.verify_audit()
    assert not report.ok and report.broken_at == 3
    assert "event 3 was changed after it was written" in report.problem


def test_edited_details_are_caught(chained: SqlRegistryStore) -> None:
    _exec(
        chained,
        sa.update(audit_events)
        .where(audit_events.c.id == 2)
        .values(details={"n": 9, "score": 0.1}),
    )
    assert chained.verify_audit().broken_at == 2


def test_a_deleted_event_breaks_the_next_link(chained: SqlRegistryStore) -> None:
    _exec(chained, sa.delete(audit_events).where(audit_events.c.id == 2))
    report = chained.verify_audit()
    assert not report.ok and report.broken_at == 3
    assert "does not follow the event before it" in report.problem


def test_a_deleted_last_event_disagrees_with_the_head(chained: SqlRegistryStore) -> None:
    _exec(chained, sa.delete(audit_events).where(audit_events.c.id == 5))
    report = chained.verify_audit()
    assert not report.ok and report.broken_at is None
    assert "the chain's head names event 5 but the last event is 4" in report.problem
    assert not chained.verify_audit(tail=2).ok  # the tip check at server start sees it too


def test_reordered_events_are_caught(chained: SqlRegistryStore) -> None:
    # swap events 2 and 4 wholesale (content and hashes), through a free id
    _exec(
        chained,
        sa.update(audit_events).where(audit_events.c.id == 2).values(id=100),
        sa.update(audit_events).where(audit_events.c.id == 4).values(id=2),
        sa.update(audit_events).where(audit_events.c.id == 100).values(id=4),
    )
    report = chained.verify_audit()
    assert not report.ok and report.broken_at == 2


def test_the_tail_check_reads_only_the_end(chained: SqlRegistryStore) -> None:
    _exec(chained, sa.update(audit_events).where(audit_events.c.id == 1).values(actor="mallory"))
    assert chained.verify_audit(tail=2).ok  # the start check looks at the tip only
    assert chained.verify_audit().broken_at == 1
    _exec(chained, sa.update(audit_events).where(audit_events.c.id == 5).values(target="x"))
    assert chained.verify_audit(tail=2).broken_at == 5


def test_writes_keep_extending_the_chain(store: SqlRegistryStore) -> None:
    assert store.verify_audit().ok and store.verify_audit().checked == 0
    store.add_audit("a", "x.y", "t", {})
    store.add_audit("b", "x.y", "t", {"nested": {"list": [1, 2.5, "s"]}})
    report = store.verify_audit()
    assert report.ok and report.checked == 2 and report.head_id == 2
