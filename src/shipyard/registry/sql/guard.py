"""The one governance check on every change of what serves, run inside the change's transaction.

``SqlRegistryStore.set_alias`` and every deployment write (``SqlDeploymentStore``: deploy create and
set, a rollout's start, steps, promotion and rollback, ``apply``) call these functions with their
own connection, before they write. There is no unguarded path: a rollback, a roll-forward or a
deployment named after an endpoint goes through the same check as ``alias set``.

The rules (``registry.governance`` explains approvals):

- ``name@alias`` protected with N approvals may point only at a version that is ``approved``, or
  ``pending`` with at least N distinct approvers. Rejected never.
- A deployment is *governed* when its name is a model with a protected alias (the endpoint a server
  of ``churn@champion`` answers as ``churn``), or when its current or new routes go through a
  protected alias. Every route of a governed deployment that takes
  traffic (weight > 0) must serve a governed model, either through one of its protected aliases
  (each move of which is checked), or as a pinned version that may become every one of them or
  that one of them points to now (the stable version of a rollout).
  Shadows are free: their answers are logged, never returned.

On PostgreSQL the rows read are locked ``FOR SHARE``: an approval decision (``FOR UPDATE`` on the
version row) or a protection change cannot interleave with the check. SQLite write transactions are
already serial (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Select, func, select

from shipyard.core.errors import Conflict
from shipyard.registry.refs import parse_ref
from shipyard.registry.sql.tables import (
    aliases,
    approvals,
    deployments,
    model_versions,
    protected_aliases,
    version_approval,
)

PENDING = "pending"
APPROVED = "approved"


def _shared(conn: Connection, query: Select[Any]) -> Select[Any]:
    return query.with_for_update(read=True) if conn.dialect.name == "postgresql" else query


def refusal(name: str, alias: str, version: int, required: int, status: str, count: int) -> str:
    """Why ``name/version`` may not become ``name@alias`` (empty when it may), pure."""
    if status == APPROVED or (status == PENDING and count >= required):
        return ""
    return (
        f"{name}/{version} needs {required} approval(s) before it can become @{alias}; "
        f"it has {count} ({status})"
    )


def _standing(conn: Connection, name: str, version: int) -> tuple[str, int]:
    """A version's approval status and its number of distinct approvers."""
    conn.execute(
        _shared(
            conn,
            select(model_versions.c.version).where(
                model_versions.c.name == name, model_versions.c.version == version
            ),
        )
    ).first()
    status = conn.execute(
        select(version_approval.c.status).where(
            version_approval.c.name == name, version_approval.c.version == version
        )
    ).scalar()
    count = conn.execute(
        select(func.count(func.distinct(approvals.c.actor))).where(
            approvals.c.name == name,
            approvals.c.version == version,
            approvals.c.decision == APPROVED,
        )
    ).scalar_one()
    return str(status or PENDING), int(count)


def _protections(conn: Connection, names: set[str]) -> dict[str, dict[str, int]]:
    if not names:
        return {}
    rows = conn.execute(
        _shared(
            conn,
            select(
                protected_aliases.c.name,
                protected_aliases.c.alias,
                protected_aliases.c.required_approvals,
            ).where(protected_aliases.c.name.in_(sorted(names))),
        )
    ).all()
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row.name, {})[row.alias] = int(row.required_approvals)
    return out


def _held(conn: Connection, name: str, protected: set[str]) -> set[int]:
    rows = conn.execute(
        select(aliases.c.version).where(
            aliases.c.name == name, aliases.c.alias.in_(sorted(protected))
        )
    ).all()
    return {int(r.version) for r in rows}


def check_alias(conn: Connection, name: str, alias: str, version: int) -> None:
    """``Conflict`` unless ``name@alias`` may point at ``version`` now."""
    required = _protections(conn, {name}).get(name, {}).get(alias)
    if required is None:
        return
    why = refusal(name, alias, version, required, *_standing(conn, name, version))
    if why:
        raise Conflict(why)


def _targets(spec: Mapping[str, Any] | None) -> list[str]:
    return [str(r["target"]) for r in (spec or {}).get("routes") or []]


def _through_protected(targets: list[str], governed: dict[str, dict[str, int]]) -> bool:
    for target in targets:
        ref = parse_ref(target)
        if ref.alias is not None and ref.alias in governed.get(ref.name, {}):
            return True
    return False


def check_deployment(conn: Connection, name: str, spec: Mapping[str, Any]) -> None:
    """``Conflict`` unless the routes of ``spec`` may serve as deployment ``name`` (see module doc)."""
    current = conn.execute(select(deployments.c.spec).where(deployments.c.name == name)).scalar()
    targets = _targets(spec) + _targets(current)
    governed = _protections(conn, {name} | {parse_ref(t).name for t in targets})
    if name not in governed and not _through_protected(targets, governed):
        return
    owners = ", ".join(f"{m}@{a}" for m, aliases in sorted(governed.items()) for a in aliases)
    for route in spec.get("routes") or []:
        if float(route["weight"]) <= 0:
            continue
        target = str(route["target"])
        ref = parse_ref(target)
        protected = governed.get(ref.name)
        if not protected:
            raise Conflict(
                f"deployment {name!r} serves the protected {owners}: a route to {target} would "
                "bypass its approvals"
            )
        if ref.alias is not None:
            if ref.alias in protected:
                continue
            raise Conflict(
                f"route {target} of deployment {name!r}: {ref.name} has protected aliases "
                f"({', '.join('@' + a for a in protected)}), so traffic goes through one of them "
                "or to an approved version, not through an unprotected alias"
            )
        assert ref.version is not None
        if ref.version in _held(conn, ref.name, set(protected)):
            continue  # already serving through the protected alias (a rollout's stable version)
        standing = _standing(conn, ref.name, ref.version)
        for alias, required in sorted(protected.items()):
            why = refusal(ref.name, alias, ref.version, required, *standing)
            if why:
                raise Conflict(f"deployment {name!r} cannot route to {target}: {why}")
