"""Deployments, rollouts, rollout events and leases in the registry database.

Rollout state is stored as JSON owned by the lifecycle layer; this store only guarantees that a
rollout's state, its deployment's routes and its timeline change together, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from shipyard.core.errors import Conflict, NotFound
from shipyard.registry.deployments import Deployment, DeploymentEvent, DeploymentSpec
from shipyard.registry.sql import guard
from shipyard.registry.sql.store import SqlRegistryStore, now_us, to_datetime
from shipyard.registry.sql.tables import (
    deployment_events,
    deployments,
    leases,
    rollout_events,
    rollouts,
)

ACTIVE = ("pending_approval", "running", "paused", "promoting", "rolling_back")


@dataclass(frozen=True)
class RolloutRecord:
    id: int
    deployment: str
    status: str
    state: Mapping[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class RolloutEvent:
    id: int
    rollout_id: int
    at: dt.datetime
    kind: str
    details: Mapping[str, Any]


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
        row = conn.execute(select(deployments).where(deployments.c.name == name)).first()
        current = 0 if row is None else int(row.revision)
        if expected_revision is not None and expected_revision != current:
            raise Conflict(
                f"deployment {name!r} is at revision {current}, not {expected_revision}: "
                "it changed meanwhile; read it again"
            )
        revision = current + 1
        values = {
            "spec": spec.to_dict(),
            "revision": revision,
            "updated_at": at,
            "updated_by": actor,
        }
        if row is None:
            conn.execute(
                insert(deployments).values(name=name, description=description or "", **values)
            )
        else:
            if description is not None:
                values["description"] = description
            conn.execute(update(deployments).where(deployments.c.name == name).values(**values))
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
                at=now_us(),
            )

    def delete(self, name: str, *, actor: str) -> None:
        at = now_us()
        with self.registry.write() as conn:
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
        at = now_us()
        with self.registry.write() as conn:
            active = conn.execute(
                select(rollouts.c.id).where(
                    rollouts.c.deployment == deployment, rollouts.c.status.in_(ACTIVE)
                )
            ).first()
            if active is not None:
                raise Conflict(
                    f"deployment {deployment!r} already has an active rollout ({active.id})"
                )
            rid = conn.execute(
                insert(rollouts)
                .values(
                    deployment=deployment,
                    status=status,
                    state=dict(state),
                    created_at=at,
                    updated_at=at,
                    created_by=actor,
                )
                .returning(rollouts.c.id)
            ).scalar_one()
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
        """Change a rollout's state, optionally its deployment's routes, and log the decision."""
        at = now_us()
        with self.registry.write() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
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

    # -- leases -------------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` unless someone else holds a live one."""
        at = now_us()
        expires = at + int(ttl_seconds * 1_000_000)
        with self.registry.write() as conn:
            if conn.dialect.name == "postgresql":
                row = conn.execute(
                    select(leases).where(leases.c.name == name).with_for_update()
                ).first()
            else:
                row = conn.execute(select(leases).where(leases.c.name == name)).first()
            if row is None:
                conn.execute(insert(leases).values(name=name, holder=holder, expires_at=expires))
                return True
            if row.holder != holder and row.expires_at > at:
                return False
            conn.execute(
                update(leases)
                .where(leases.c.name == name)
                .values(holder=holder, expires_at=expires)
            )
            if row.holder != holder:
                self.registry.audit(conn, holder, "lease.take", name, {"from": row.holder}, at)
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.registry.write() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    def lease_holder(self, name: str) -> tuple[str, dt.datetime] | None:
        with self.registry.read() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return None if row is None else (row.holder, to_datetime(row.expires_at))
