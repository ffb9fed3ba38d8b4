"""Deployments, rollouts and rollout events in the registry database.

Rollout state is stored as JSON owned by the lifecycle layer; this store only guarantees that a
rollout's state, its deployment's routes and its timeline change together, in one transaction.

Races are decided by the database. A deployment update reads the row under a lock (PostgreSQL
``FOR UPDATE``; SQLite serialises writers with ``BEGIN IMMEDIATE``) and compares revisions there, so
of writers expecting the same revision exactly one wins and the others get ``Conflict`` with the
current revision. A partial unique index allows one active rollout per deployment; a start that
loses the race gets ``Conflict`` naming the rollout that won.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, text, update

from shipyard.core.errors import Conflict, NotFound
from shipyard.registry.deployments import (
    ACTIVE_ROLLOUT_STATUSES,
    Deployment,
    DeploymentEvent,
    DeploymentSpec,
    RolloutEvent,
    RolloutRecord,
)
from shipyard.registry.sql import guard
from shipyard.registry.sql.audit import event_time
from shipyard.registry.sql.clock import to_datetime
from shipyard.registry.sql.dialect import dialect_insert
from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.registry.sql.tables import (
    ACTIVE_ROLLOUTS,
    deployment_events,
    deployments,
    rollout_events,
    rollouts,
)

ACTIVE = ACTIVE_ROLLOUT_STATUSES


def _deployment(row: Row[Any]) -> Deployment:
    return Deployment(
        name=row.name,
        spec=DeploymentSpec.from_dict(row.spec),
        revision=row.revision,
        updated_at=to_datetime(row.updated_at),
        updated_by=row.updated_by,
        description=row.description,
    )


def _rollout(row: Row[Any]) -> RolloutRecord:
    return RolloutRecord(
        id=row.id,
        deployment=row.deployment,
        status=row.status,
        state=row.state,
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at),
        created_by=row.created_by,
    )


class SqlDeploymentStore:
    def __init__(self, registry: SqlRegistryStore) -> None:
        self.registry = registry

    # -- deployments --------------------------------------------------------------------------------

    def find(self, name: str) -> Deployment | None:
        with self.registry.read() as conn:
            row = conn.execute(select(deployments).where(deployments.c.name == name)).first()
        return None if row is None else _deployment(row)

    def all(self) -> list[Deployment]:
        with self.registry.read() as conn:
            rows = conn.execute(select(deployments).order_by(deployments.c.name)).all()
        return [_deployment(r) for r in rows]

    def _put(
        self,
        conn: Connection,
        name: str,
        spec: DeploymentSpec,
        *,
        actor: str,
        reason: str,
        description: str | None,
        expected_revision: int | None,
        at: int,
    ) -> Deployment:
        guard.check_deployment(conn, name, spec.to_dict())  # what serves: one governance check
        locked = select(deployments).where(deployments.c.name == name).with_for_update()
        row = conn.execute(locked).first()
        if row is None:
            if expected_revision not in (None, 0):
                raise _stale(name, 0, expected_revision)
            values = {"spec": spec.to_dict(), "revision": 1, "updated_at": at, "updated_by": actor}
            created = conn.execute(  # nothing to lock yet: a concurrent create makes this a no-op
                dialect_insert(conn)(deployments)
                .values(name=name, description=description or "", **values)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(deployments.c.revision)
            ).scalar()
            if created is None:  # it was created meanwhile: now there is a row to wait on
                row = conn.execute(locked).one()
        if row is not None:
            current = int(row.revision)
            if expected_revision is not None and expected_revision != current:
                raise _stale(name, current, expected_revision)
            values = {
                "spec": spec.to_dict(),
                "revision": current + 1,
                "updated_at": at,
                "updated_by": actor,
            }
            if description is not None:
                values["description"] = description
            conn.execute(update(deployments).where(deployments.c.name == name).values(**values))
        revision = values["revision"]
        conn.execute(
            insert(deployment_events).values(
                name=name, revision=revision, spec=spec.to_dict(), actor=actor, at=at, reason=reason
            )
        )
        self.registry.audit(
            conn,
            actor,
            "deployment.set",
            name,
            {"revision": revision, "spec": spec.to_dict(), "reason": reason},
            at,
        )
        return _deployment(
            conn.execute(select(deployments).where(deployments.c.name == name)).one()
        )

    def put(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        actor: str,
        reason: str = "",
        description: str | None = None,
        expected_revision: int | None = None,
    ) -> Deployment:
        with self.registry.write() as conn:
            return self._put(
                conn,
                name,
                spec,
                actor=actor,
                reason=reason,
                description=description,
                expected_revision=expected_revision,
                at=event_time(conn),  # first, under the write lock: events in commit order
            )

    def delete(self, name: str, *, actor: str) -> None:
        with self.registry.write() as conn:
            at = event_time(conn)
            active = conn.execute(
                select(rollouts.c.id).where(
                    rollouts.c.deployment == name, rollouts.c.status.in_(ACTIVE)
                )
            ).first()
            if active is not None:
                raise Conflict(
                    f"deployment {name!r} has an active rollout ({active.id}); abort it first"
                )
            if conn.execute(delete(deployments).where(deployments.c.name == name)).rowcount == 0:
                raise NotFound(f"no deployment named {name!r}")
            self.registry.audit(conn, actor, "deployment.delete", name, {}, at)

    def history(self, name: str) -> list[DeploymentEvent]:
        with self.registry.read() as conn:
            rows = conn.execute(
                select(deployment_events)
                .where(deployment_events.c.name == name)
                .order_by(deployment_events.c.id)
            ).all()
        return [
            DeploymentEvent(
                name=r.name,
                revision=r.revision,
                spec=DeploymentSpec.from_dict(r.spec),
                actor=r.actor,
                at=to_datetime(r.at),
                reason=r.reason,
            )
            for r in rows
        ]

    # -- rollouts -----------------------------------------------------------------------------------

    def create_rollout(
        self,
        deployment: str,
        status: str,
        state: Mapping[str, Any],
        *,
        actor: str,
        spec: DeploymentSpec | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> RolloutRecord:
        with self.registry.write() as conn:
            at = event_time(conn)
            self._refuse_second_rollout(conn, deployment)
            rid = conn.execute(
                dialect_insert(conn)(rollouts)
                .values(
                    deployment=deployment,
                    status=status,
                    state=dict(state),
                    created_at=at,
                    updated_at=at,
                    created_by=actor,
                )
                .on_conflict_do_nothing(
                    index_elements=["deployment"], index_where=text(ACTIVE_ROLLOUTS)
                )
                .returning(rollouts.c.id)
            ).scalar()
            if rid is None:  # PostgreSQL: another start committed while this one waited on it
                self._refuse_second_rollout(conn, deployment)
                raise Conflict(f"deployment {deployment!r} already has an active rollout")
            if spec is not None:
                self._put(
                    conn,
                    deployment,
                    spec,
                    actor=actor,
                    reason=f"rollout {rid}",
                    description=None,
                    expected_revision=None,
                    at=at,
                )
            conn.execute(
                insert(rollout_events).values(
                    rollout_id=rid, at=at, kind="start", details=dict(event or {})
                )
            )
            self.registry.audit(
                conn, actor, "rollout.start", deployment, {"rollout": rid, **(event or {})}, at
            )
            return _rollout(conn.execute(select(rollouts).where(rollouts.c.id == rid)).one())

    @staticmethod
    def _refuse_second_rollout(conn: Connection, deployment: str) -> None:
        active = conn.execute(
            select(rollouts.c.id).where(
                rollouts.c.deployment == deployment, rollouts.c.status.in_(ACTIVE)
            )
        ).first()
        if active is not None:
            raise Conflict(f"deployment {deployment!r} already has an active rollout ({active.id})")

    def update_rollout(
        self,
        rollout_id: int,
        status: str,
        state: Mapping[str, Any],
        *,
        actor: str,
        kind: str,
        details: Mapping[str, Any],
        spec: DeploymentSpec | None = None,
        expected_status: str | None = None,
    ) -> RolloutRecord:
        """Change a rollout's state, optionally its deployment's routes, and log the decision.

        With ``expected_status``, only if the rollout is still in it (checked under the row lock).
        """
        with self.registry.write() as conn:
            at = event_time(conn)
            row = conn.execute(
                select(rollouts).where(rollouts.c.id == rollout_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound(f"no rollout {rollout_id}")
            if expected_status is not None and row.status != expected_status:
                raise Conflict(f"rollout {rollout_id} is {row.status}, not {expected_status}")
            conn.execute(
                update(rollouts)
                .where(rollouts.c.id == rollout_id)
                .values(status=status, state=dict(state), updated_at=at)
            )
            if spec is not None:
                self._put(
                    conn,
                    row.deployment,
                    spec,
                    actor=actor,
                    reason=f"rollout {rollout_id}: {kind}",
                    description=None,
                    expected_revision=None,
                    at=at,
                )
            conn.execute(
                insert(rollout_events).values(
                    rollout_id=rollout_id, at=at, kind=kind, details=dict(details)
                )
            )
            self.registry.audit(
                conn,
                actor,
                f"rollout.{kind}",
                row.deployment,
                {"rollout": rollout_id, "status": status, **details},
                at,
            )
            return _rollout(conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).one())

    def get_rollout(self, rollout_id: int) -> RolloutRecord:
        with self.registry.read() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
        if row is None:
            raise NotFound(f"no rollout {rollout_id}")
        return _rollout(row)

    def rollouts(
        self, *, deployment: str | None = None, active: bool = False, limit: int = 100
    ) -> list[RolloutRecord]:
        query = select(rollouts).order_by(rollouts.c.id.desc()).limit(limit)
        if deployment:
            query = query.where(rollouts.c.deployment == deployment)
        if active:
            query = query.where(rollouts.c.status.in_(ACTIVE))
        with self.registry.read() as conn:
            return [_rollout(r) for r in conn.execute(query).all()]

    def events(self, rollout_id: int) -> list[RolloutEvent]:
        with self.registry.read() as conn:
            rows = conn.execute(
                select(rollout_events)
                .where(rollout_events.c.rollout_id == rollout_id)
                .order_by(rollout_events.c.id)
            ).all()
        return [
            RolloutEvent(r.id, r.rollout_id, to_datetime(r.at), r.kind, r.details) for r in rows
        ]


def _stale(name: str, current: int, expected: int | None) -> Conflict:
    return Conflict(
        f"deployment {name!r} is at revision {current}, not {expected}: "
        "it changed meanwhile; read it again",
        current_revision=current,
    )
