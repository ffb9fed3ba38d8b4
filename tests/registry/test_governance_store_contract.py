"""The GovernanceStore contract (protection, decisions), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from shipyard.core.errors import Conflict, NotFound
from shipyard.registry.entities import ApprovalStatus, NewVersion
from shipyard.registry.sql.governance import SqlGovernanceStore
from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.registry.store import GovernanceStore


@pytest.fixture
def governance(store: SqlRegistryStore) -> GovernanceStore:
    store.create_version(
        "m",
        NewVersion(digest="sha256:" + "a" * 64, manifest_blob="x", flavor="python", size_bytes=1),
        actor="author",
    )
    return SqlGovernanceStore(store)


def keep(current: ApprovalStatus) -> str:
    return current.status


def test_protection_is_stored_per_alias(governance: GovernanceStore) -> None:
    assert governance.get_protection("m", "champion") is None
    made = governance.set_protection("m", "champion", 2, actor="admin", settle=keep)
    assert (made.alias, made.required_approvals, made.updated_by) == ("champion", 2, "admin")
    assert governance.get_protection("m", "champion") == 2
    assert [p.alias for p in governance.list_protection("m")] == ["champion"]
    governance.delete_protection("m", "champion", actor="admin", settle=keep)
    assert governance.list_protection("m") == []
    with pytest.raises(NotFound):
        governance.list_protection("nope")


def test_decisions_are_judged_against_the_current_status(governance: GovernanceStore) -> None:
    governance.set_protection("m", "champion", 2, actor="admin", settle=keep)
    assert governance.status("m", 1).status == "pending"
    seen: list[tuple[str, str]] = []

    def judge(current: ApprovalStatus, creator: str) -> str:
        seen.append((current.status, creator))
        return "approved" if len(current.approvals) == 1 else "pending"

    first = governance.decide("m", 1, "approved", actor="ana", comment="ok", judge=judge)
    second = governance.decide("m", 1, "approved", actor="bob", comment="ok", judge=judge)
    assert (first.status, second.status) == ("pending", "approved")
    assert second.approved_by == ("ana", "bob") and second.required == 2
    assert seen == [("pending", "author"), ("pending", "author")]

    def refuse(current: ApprovalStatus, creator: str) -> str:
        raise Conflict("final")

    with pytest.raises(Conflict, match="final"):
        governance.decide("m", 1, "rejected", actor="cy", comment="", judge=refuse)
    assert len(governance.status("m", 1).approvals) == 2  # a refused decision leaves no trace
    with pytest.raises(NotFound):
        governance.status("m", 9)


def test_the_queue_holds_undecided_versions_newer_than_the_protected_aliases(
    store: SqlRegistryStore, governance: GovernanceStore
) -> None:
    for _ in range(3):
        store.create_version(
            "m",
            NewVersion(
                digest="sha256:" + "b" * 64, manifest_blob="x", flavor="python", size_bytes=1
            ),
            actor="author",
        )
    assert governance.queue() == []  # nothing protected: nothing waits
    governance.set_protection("m", "champion", 1, actor="admin", settle=keep)
    assert [q.version for q in governance.queue()] == [4, 3, 2, 1]  # alias unset: every version

    def approve(current: ApprovalStatus, creator: str) -> str:
        return "approved"

    governance.decide("m", 1, "approved", actor="bob", comment="", judge=approve)
    store.set_alias("m", "champion", 1, actor="admin", reason="")
    governance.decide("m", 3, "rejected", actor="bob", comment="", judge=lambda c, a: "rejected")
    queued = governance.queue()
    assert [(q.name, q.version, q.status) for q in queued] == [
        ("m", 4, "pending"),
        ("m", 2, "pending"),
    ]
    assert [q.version for q in governance.queue(limit=1)] == [4]
