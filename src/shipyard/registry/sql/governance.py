"""Protected aliases and approval decisions in the registry database.

The rules themselves live in ``registry.governance``; this store makes them race-free. A decision
runs in one write transaction that locks the version's row (PostgreSQL ``SELECT ... FOR UPDATE``;
SQLite write transactions are serialised by ``BEGIN IMMEDIATE``), reads the version's current status,
asks the caller's ``judge`` for the next one (which may raise ``Conflict``), then records the decision,
the new status and the audit event together. Two reviewers approving at once therefore count to two,
and no decision can land on a version that another one has just made final.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from shipyard.core.errors import NotFound
from shipyard.registry.entities import Approval, ApprovalStatus, ProtectedAlias
from shipyard.registry.sql.audit import event_time
from shipyard.registry.sql.store import SqlRegistryStore, _insert, to_datetime
from shipyard.registry.sql.tables import (
    aliases,
    approvals,
    model_versions,
    protected_aliases,
    registered_models,
    version_approval,
)

PENDING = "pending"

Judge = Callable[[ApprovalStatus, str], str]
"""``(current status, version creator) -> next status``; raises ``Conflict`` to refuse."""
Settle = Callable[[ApprovalStatus], str]
"""``current status -> status`` once the required number of approvals has changed."""


def _protected(row: Row[Any]) -> ProtectedAlias:
    return ProtectedAlias(
        name=row.name,
        alias=row.alias,
        required_approvals=row.required_approvals,
        updated_at=to_datetime(row.updated_at),
        updated_by=row.updated_by,
    )


def _approval(row: Row[Any]) -> Approval:
    return Approval(
        id=row.id,
        name=row.name,
        version=row.version,
        decision=row.decision,
        actor=row.actor,
        comment=row.comment,
        at=to_datetime(row.at),
    )


class SqlGovernanceStore:
    def __init__(self, registry: SqlRegistryStore) -> None:
        self.registry = registry

    # -- reading helpers ----------------------------------------------------------------------------

    @staticmethod
    def _check_model(conn: Connection, name: str) -> None:
        found = conn.execute(
            select(registered_models.c.name).where(registered_models.c.name == name)
        ).first()
        if found is None:
            raise NotFound(f"model {name!r} does not exist")

    def _creator(self, conn: Connection, name: str, version: int, *, lock: bool) -> str:
        query = select(model_versions.c.created_by).where(
            model_versions.c.name == name, model_versions.c.version == version
        )
        creator = conn.execute(query.with_for_update() if lock else query).scalar()
        if creator is None:
            self._check_model(conn, name)
            raise NotFound(f"model {name!r} has no version {version}")
        return str(creator)

    @staticmethod
    def _required(conn: Connection, name: str) -> int:
        strictest = conn.execute(
            select(func.max(protected_aliases.c.required_approvals)).where(
                protected_aliases.c.name == name
            )
        ).scalar()
        return int(strictest) if strictest is not None else 1

    def _status(self, conn: Connection, name: str, version: int) -> ApprovalStatus:
        row = conn.execute(
            select(version_approval).where(
                version_approval.c.name == name, version_approval.c.version == version
            )
        ).first()
        decisions = conn.execute(
            select(approvals)
            .where(approvals.c.name == name, approvals.c.version == version)
            .order_by(approvals.c.id)
        ).all()
        return ApprovalStatus(
            status=PENDING if row is None else row.status,
            approvals=tuple(_approval(r) for r in decisions),
            required=self._required(conn, name),
            name=name,
            version=version,
            decided_at=None
            if row is None or row.decided_at is None
            else to_datetime(row.decided_at),
        )

    # -- protected aliases --------------------------------------------------------------------------

    def get_protection(self, name: str, alias: str) -> int | None:
        with self.registry.read() as conn:
            required = conn.execute(
                select(protected_aliases.c.required_approvals).where(
                    protected_aliases.c.name == name, protected_aliases.c.alias == alias
                )
            ).scalar()
        return None if required is None else int(required)

    def list_protection(self, name: str) -> list[ProtectedAlias]:
        with self.registry.read() as conn:
            self._check_model(conn, name)
            rows = conn.execute(
                select(protected_aliases)
                .where(protected_aliases.c.name == name)
                .order_by(protected_aliases.c.alias)
            ).all()
        return [_protected(r) for r in rows]

    def set_protection(
        self, name: str, alias: str, required: int, *, actor: str, settle: Settle
    ) -> ProtectedAlias:
        with self.registry.write() as conn:
            at = event_time(conn)
            self._check_model(conn, name)
            stmt = _insert(conn)(protected_aliases).values(
                name=name, alias=alias, required_approvals=required, updated_at=at, updated_by=actor
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name", "alias"],
                    set_={"required_approvals": required, "updated_at": at, "updated_by": actor},
                )
            )
            self.registry.audit(
                conn, actor, "protection.set", f"{name}@{alias}", {"required": required}, at
            )
            self._settle(conn, name, actor, at, settle)
            row = conn.execute(
                select(protected_aliases).where(
                    protected_aliases.c.name == name, protected_aliases.c.alias == alias
                )
            ).one()
        return _protected(row)

    def delete_protection(self, name: str, alias: str, *, actor: str, settle: Settle) -> None:
        with self.registry.write() as conn:
            at = event_time(conn)
            result = conn.execute(
                delete(protected_aliases).where(
                    protected_aliases.c.name == name, protected_aliases.c.alias == alias
                )
            )
            if result.rowcount == 0:
                self._check_model(conn, name)
                raise NotFound(f"@{alias} of model {name!r} is not protected")
            self.registry.audit(conn, actor, "protection.delete", f"{name}@{alias}", {}, at)
            self._settle(conn, name, actor, at, settle)

    def _settle(self, conn: Connection, name: str, actor: str, at: int, settle: Settle) -> None:
        """Re-evaluate the model's pending versions after its requirement changed."""
        pending = (
            conn.execute(
                select(version_approval.c.version).where(
                    version_approval.c.name == name, version_approval.c.status == PENDING
                )
            )
            .scalars()
            .all()
        )
        for version in pending:
            current = self._status(conn, name, version)
            status = settle(current)
            if status != current.status:
                self._write_status(conn, name, version, status, at)
                self.registry.audit(
                    conn,
                    actor,
                    "approval.settle",
                    f"{name}/{version}",
                    {"status": status, "approvals": len(current.approved_by)},
                    at,
                )

    # -- decisions ----------------------------------------------------------------------------------

    def queue(self, limit: int = 100) -> list[ApprovalStatus]:
        """Undecided versions of models with a protected alias, newer than what the protected
        aliases point to (the candidates waiting on a review), newest first."""
        served = (
            select(aliases.c.name, func.min(aliases.c.version).label("version"))
            .join(
                protected_aliases,
                (protected_aliases.c.name == aliases.c.name)
                & (protected_aliases.c.alias == aliases.c.alias),
            )
            .group_by(aliases.c.name)
            .subquery()
        )
        guarded = select(protected_aliases.c.name).distinct().subquery()
        query = (
            select(model_versions.c.name, model_versions.c.version)
            .join(guarded, guarded.c.name == model_versions.c.name)
            .outerjoin(served, served.c.name == model_versions.c.name)
            .outerjoin(
                version_approval,
                (version_approval.c.name == model_versions.c.name)
                & (version_approval.c.version == model_versions.c.version),
            )
            .where(
                (version_approval.c.status.is_(None)) | (version_approval.c.status == PENDING),
                (served.c.version.is_(None)) | (model_versions.c.version > served.c.version),
            )
            .order_by(model_versions.c.created_at.desc(), model_versions.c.version.desc())
            .limit(limit)
        )
        with self.registry.read() as conn:
            return [self._status(conn, r.name, r.version) for r in conn.execute(query).all()]

    def status(self, name: str, version: int) -> ApprovalStatus:
        with self.registry.read() as conn:
            self._creator(conn, name, version, lock=False)
            return self._status(conn, name, version)

    def decide(
        self,
        name: str,
        version: int,
        decision: str,
        *,
        actor: str,
        comment: str,
        judge: Judge,
    ) -> ApprovalStatus:
        """Record ``actor``'s ``decision`` if ``judge`` accepts it; return the version's new status."""
        with self.registry.write() as conn:
            at = event_time(conn)
            creator = self._creator(conn, name, version, lock=True)
            current = self._status(conn, name, version)
            status = judge(current, creator)
            conn.execute(
                insert(approvals).values(
                    name=name,
                    version=version,
                    decision=decision,
                    actor=actor,
                    comment=comment,
                    at=at,
                )
            )
            self._write_status(conn, name, version, status, at)
            updated = self._status(conn, name, version)
            self.registry.audit(
                conn,
                actor,
                f"approval.{'approve' if decision == 'approved' else 'reject'}",
                f"{name}/{version}",
                {
                    "comment": comment,
                    "status": status,
                    "approvals": len(updated.approved_by),
                    "required": updated.required,
                },
                at,
            )
            return updated

    @staticmethod
    def _write_status(conn: Connection, name: str, version: int, status: str, at: int) -> None:
        decided_at = None if status == PENDING else at
        exists = conn.execute(
            select(version_approval.c.status).where(
                version_approval.c.name == name, version_approval.c.version == version
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(version_approval).values(
                    name=name, version=version, status=status, decided_at=decided_at
                )
            )
        else:
            conn.execute(
                update(version_approval)
                .where(version_approval.c.name == name, version_approval.c.version == version)
                .values(status=status, decided_at=decided_at)
            )
