"""The DeploymentStore contract (deployments, revisions, rollouts), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.core.errors import Conflict, NotFound
from shipyard.registry.deployments import DeploymentSpec, DeploymentStore
from shipyard.registry.sql.deployments import SqlDeploymentStore
from shipyard.registry.sql.store import SqlRegistryStore

A = DeploymentSpec.single("churn@champion")
B = DeploymentSpec.single("churn/2")


@pytest.fixture
def deployments(store: SqlRegistryStore) -> Iterator[DeploymentStore]:
    yield SqlDeploymentStore(store)


def test_put_writes_numbered_revisions_and_history(deployments: DeploymentStore) -> None:
    assert deployments.find("web") is None
    first = deployments.put("web", A, actor="ana", reason="created", description="front")
    second = deployments.put("web", B, actor="bob", reason="v2")
    assert (first.revision, second.revision) == (1, 2)
    assert second.spec == B and second.updated_by == "bob" and second.description == "front"
    assert [d.name for d in deployments.all()] == ["web"]
    history = deployments.history("web")
    assert [(e.revision, e.spec, e.actor, e.reason) for e in history] == [
        (1, A, "ana", "created"),
        (2, B, "bob", "v2"),
    ]
    assert history[0].at <= history[1].at


def test_compare_and_set_refuses_a_stale_revision(deployments: DeploymentStore) -> None:
    deployments.put("web", A, actor="a")
    assert deployments.put("web", B, actor="a", expected_revision=1).revision == 2
    with pytest.raises(Conflict, match="is at revision 2, not 1") as caught:
        deployments.put("web", A, actor="a", expected_revision=1)
    assert caught.value.current_revision == 2
    with pytest.raises(Conflict) as absent:
        deployments.put("new", A, actor="a", expected_revision=3)
    assert absent.value.current_revision == 0
    assert deployments.put("new", A, actor="a", expected_revision=0).revision == 1
    assert deployments.find("web").revision == 2  # type: ignore[union-attr]


def test_one_active_rollout_per_deployment(deployments: DeploymentStore) -> None:
    deployments.put("web", A, actor="a")
    first = deployments.create_rollout(
        "web", "running", {"step": 0}, actor="ana", spec=B, event={"to": "churn/2"}
    )
    assert first.status == "running" and first.state == {"step": 0}
    assert deployments.find("web").spec == B  # type: ignore[union-attr]
    with pytest.raises(Conflict, match=rf"already has an active rollout \({first.id}\)"):
        deployments.create_rollout("web", "running", {}, actor="bob")
    done = deployments.update_rollout(
        first.id, "completed", {"step": 1}, actor="c", kind="complete", details={"ok": True}
    )
    assert done.status == "completed"
    second = deployments.create_rollout("web", "running", {}, actor="bob")
    assert [r.id for r in deployments.rollouts(deployment="web", active=True)] == [second.id]
    assert [r.id for r in deployments.rollouts(deployment="web")] == [second.id, first.id]
    assert [e.kind for e in deployments.events(first.id)] == ["start", "complete"]


def test_update_rollout_checks_the_expected_status(deployments: DeploymentStore) -> None:
    r = deployments.create_rollout("web", "running", {}, actor="a", spec=A)
    with pytest.raises(Conflict, match="is running, not paused"):
        deployments.update_rollout(
            r.id, "running", {}, actor="a", kind="resume", details={}, expected_status="paused"
        )
    with pytest.raises(NotFound, match="no rollout 999"):
        deployments.get_rollout(999)
    assert deployments.get_rollout(r.id).status == "running"


def test_delete_is_refused_during_a_rollout(deployments: DeploymentStore) -> None:
    r = deployments.create_rollout("web", "running", {}, actor="a", spec=A)
    with pytest.raises(Conflict, match="active rollout"):
        deployments.delete("web", actor="a")
    deployments.update_rollout(r.id, "aborted", {}, actor="a", kind="abort", details={})
    deployments.delete("web", actor="a")
    assert deployments.find("web") is None
    with pytest.raises(NotFound):
        deployments.delete("web", actor="a")
