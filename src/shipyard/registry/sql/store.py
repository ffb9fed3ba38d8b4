"""``SqlRegistryStore``: the registry on SQLite (embedded default) or PostgreSQL.

Version numbers are allocated in the database: the model row's ``next_version`` counter is bumped with
``UPDATE ... RETURNING`` inside the transaction that inserts the version. PostgreSQL serialises the
bump on the row lock; SQLite write transactions start with ``BEGIN IMMEDIATE`` (one writer at a time,
others wait on the busy timeout). A failed insert rolls the counter back, so numbers have no gaps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

from shipyard.core.errors import Conflict, InvalidArgument, NotFound, Unavailable
from shipyard.registry.changes import ChangeFeed
from shipyard.registry.entities import (
    Alias,
    AliasEvent,
    AuditEvent,
    ChainReport,
    ModelVersion,
    NewVersion,
    RegisteredModel,
)
from shipyard.registry.leases import current_fence
from shipyard.registry.sql import audit as audit_chain
from shipyard.registry.sql import guard, schema
from shipyard.registry.sql.changes import notify, open_feed
from shipyard.registry.sql.clock import after, now_us, to_datetime, to_us
from shipyard.registry.sql.dialect import dialect_insert, lost_race
from shipyard.registry.sql.leases import check_fence
from shipyard.registry.sql.tables import (
    alias_events,
    aliases,
    audit_events,
    model_tags,
    model_versions,
    registered_models,
    version_tags,
)

SQLITE_BUSY_TIMEOUT_S = 60


def make_engine(url: str) -> Engine:
    """An engine with the pragmas and transaction behaviour the store relies on."""
    scheme = url.split(":", 1)[0]
    try:
        make_url(url)
        if not url.startswith("sqlite"):
            make_url(url).get_dialect()
    except ArgumentError:  # unparsable, or no such dialect: the message shows no credentials
        raise InvalidArgument(
            f"database URL of kind {scheme!r} is not one Shipyard can open; expected "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
        ) from None
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("shipyard_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except ModuleNotFoundError as exc:
        raise Unavailable(
            f"no driver for {url.split(':', 1)[0]}: {exc.name} is not installed; "
            "for PostgreSQL install it with: pip install 'shipyard[postgres]'"
        ) from exc


_insert = dialect_insert

__all__ = ["SqlRegistryStore", "make_engine", "now_us", "to_datetime", "to_us"]


class SqlRegistryStore:
    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            if schema.at_head(self.engine):  # the usual case: one query, no Alembic
                return
            if auto_migrate:
                schema.upgrade(self.engine, only_if_empty=True)
            state = schema.status(self.engine)
        except OperationalError as exc:
            raise Unavailable(f"cannot reach the registry database: {exc.orig}") from exc
        if not state.up_to_date:
            raise Conflict(
                f"the registry schema is at revision {state.current}, this Shipyard needs "
                f"{state.head}: run `shipyard db upgrade`"
            )

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            raise Unavailable(f"registry database error: {exc.orig}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE), fenced when the context carries a fence.

        A race the locks did not order (a unique key taken meanwhile, a PostgreSQL deadlock or
        serialization failure) becomes a ``Conflict`` with a plain message, never a database error.
        """
        fence = current_fence()
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(shipyard_write=True)
                with conn.begin():
                    if fence is not None:
                        check_fence(conn, fence)
                    yield conn
        except DatabaseIntegrityError as exc:
            raise Conflict(
                "the registry changed meanwhile (a concurrent write won); read it again and retry"
            ) from exc
        except OperationalError as exc:
            if lost_race(exc):
                raise Conflict(
                    "the registry was busy with a concurrent write; read it again and retry"
                ) from exc
            raise Unavailable(f"registry database error: {exc.orig}") from exc

    @staticmethod
    def audit(
        conn: Connection, actor: str, action: str, target: str, details: Mapping[str, Any], at: int
    ) -> None:
        """Append an event to the audit chain, in the transaction of the change it records."""
        audit_chain.append(conn, actor, action, target, details, at)
        notify(conn)  # servers following the registry hear of it at commit (PostgreSQL)

    # -- models -------------------------------------------------------------------------------------

    def _model_row(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(
            select(registered_models).where(registered_models.c.name == name)
        ).first()
        if row is None:
            raise NotFound(f"model {name!r} does not exist")
        return row

    def _model(self, conn: Connection, row: Row[Any]) -> RegisteredModel:
        name = row.name
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.name == name)
        ).scalar()
        tags = dict(
            conn.execute(
                select(model_tags.c.key, model_tags.c.value).where(model_tags.c.name == name)
            ).all()  # type: ignore[arg-type]
        )
        alias_map = dict(
            conn.execute(
                select(aliases.c.alias, aliases.c.version).where(aliases.c.name == name)
            ).all()  # type: ignore[arg-type]
        )
        return RegisteredModel(
            name=name,
            description=row.description,
            created_at=to_datetime(row.created_at),
            updated_at=to_datetime(row.updated_at),
            latest_version=latest,
            tags=tags,
            aliases=alias_map,
        )

    def get_model(self, name: str) -> RegisteredModel:
        with self.read() as conn:
            return self._model(conn, self._model_row(conn, name))

    def list_models(
        self, *, prefix: str | None = None, tags: Mapping[str, str] | None = None, limit: int = 1000
    ) -> list[RegisteredModel]:
        query = select(registered_models).order_by(registered_models.c.name).limit(limit)
        if prefix:
            query = query.where(registered_models.c.name.startswith(prefix, autoescape=True))
        for key, value in (tags or {}).items():
            query = query.where(
                select(model_tags.c.name)
                .where(
                    model_tags.c.name == registered_models.c.name,
                    model_tags.c.key == key,
                    model_tags.c.value == value,
                )
                .exists()
            )
        with self.read() as conn:
            return [self._model(conn, row) for row in conn.execute(query).all()]

    def set_model_description(self, name: str, description: str, *, actor: str) -> None:
        at = now_us()
        with self.write() as conn:
            self._model_row(conn, name)
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(description=description, updated_at=at)
            )
            self.audit(conn, actor, "model.describe", name, {"description": description}, at)

    def delete_model(self, name: str, *, actor: str) -> None:
        at = now_us()
        with self.write() as conn:
            self._model_row(conn, name)
            held = conn.execute(
                select(aliases.c.alias, aliases.c.version).where(aliases.c.name == name)
            ).all()
            if held:
                listed = ", ".join(f"@{a}->{v}" for a, v in held)
                raise Conflict(f"model {name!r} still has aliases ({listed}); delete them first")
            count = conn.execute(
                select(func.count())
                .select_from(model_versions)
                .where(model_versions.c.name == name)
            ).scalar_one()
            conn.execute(delete(version_tags).where(version_tags.c.name == name))
            conn.execute(delete(model_versions).where(model_versions.c.name == name))
            conn.execute(delete(model_tags).where(model_tags.c.name == name))
            conn.execute(delete(registered_models).where(registered_models.c.name == name))
            self.audit(conn, actor, "model.delete", name, {"versions": count}, at)

    # -- versions -----------------------------------------------------------------------------------

    def create_version(self, name: str, new: NewVersion, *, actor: str) -> ModelVersion:
        at = now_us()
        with self.write() as conn:
            conn.execute(
                _insert(conn)(registered_models)
                .values(name=name, description="", next_version=1, created_at=at, updated_at=at)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            version = (
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.name == name)
                    .values(next_version=registered_models.c.next_version + 1, updated_at=at)
                    .returning(registered_models.c.next_version)
                ).scalar_one()
                - 1
            )
            conn.execute(
                insert(model_versions).values(
                    name=name,
                    version=version,
                    digest=new.digest,
                    manifest_blob=new.manifest_blob,
                    flavor=new.flavor,
                    description=new.description,
                    metrics=dict(new.metrics),
                    params=dict(new.params),
                    size_bytes=new.size_bytes,
                    created_at=at,
                    created_by=actor,
                )
            )
            if new.tags:
                conn.execute(
                    insert(version_tags),
                    [
                        {"name": name, "version": version, "key": k, "value": v}
                        for k, v in new.tags.items()
                    ],
                )
            self.audit(
                conn,
                actor,
                "version.create",
                f"{name}/{version}",
                {"digest": new.digest, "flavor": new.flavor},
                at,
            )
            return self._version(conn, self._version_row(conn, name, version))

    def _version_row(self, conn: Connection, name: str, version: int) -> Row[Any]:
        row = conn.execute(
            select(model_versions).where(
                model_versions.c.name == name, model_versions.c.version == version
            )
        ).first()
        if row is None:
            self._model_row(conn, name)
            raise NotFound(f"model {name!r} has no version {version}")
        return row

    def _version(self, conn: Connection, row: Row[Any]) -> ModelVersion:
        tags = dict(
            conn.execute(  # type: ignore[arg-type]
                select(version_tags.c.key, version_tags.c.value).where(
                    version_tags.c.name == row.name, version_tags.c.version == row.version
                )
            ).all()
        )
        held = (
            conn.execute(
                select(aliases.c.alias)
                .where(aliases.c.name == row.name, aliases.c.version == row.version)
                .order_by(aliases.c.alias)
            )
            .scalars()
            .all()
        )
        return ModelVersion(
            name=row.name,
            version=row.version,
            digest=row.digest,
            manifest_blob=row.manifest_blob,
            flavor=row.flavor,
            description=row.description,
            created_at=to_datetime(row.created_at),
            created_by=row.created_by,
            size_bytes=row.size_bytes,
            metrics=row.metrics,
            params=row.params,
            tags=tags,
            aliases=tuple(held),
        )

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self.read() as conn:
            return self._version(conn, self._version_row(conn, name, version))

    def latest_version(self, name: str) -> ModelVersion:
        with self.read() as conn:
            row = conn.execute(
                select(model_versions)
                .where(model_versions.c.name == name)
                .order_by(model_versions.c.version.desc())
                .limit(1)
            ).first()
            if row is None:
                self._model_row(conn, name)
                raise NotFound(f"model {name!r} has no versions")
            return self._version(conn, row)

    def list_versions(
        self,
        *,
        name: str | None = None,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int = 1000,
    ) -> list[ModelVersion]:
        query = (
            select(model_versions)
            .order_by(model_versions.c.name, model_versions.c.version.desc())
            .limit(limit)
        )
        if name is not None:
            query = query.where(model_versions.c.name == name)
        if prefix:
            query = query.where(model_versions.c.name.startswith(prefix, autoescape=True))
        for key, value in (tags or {}).items():
            query = query.where(
                select(version_tags.c.name)
                .where(
                    version_tags.c.name == model_versions.c.name,
                    version_tags.c.version == model_versions.c.version,
                    version_tags.c.key == key,
                    version_tags.c.value == value,
                )
                .exists()
            )
        with self.read() as conn:
            if name is not None:
                self._model_row(conn, name)
            return [self._version(conn, row) for row in conn.execute(query).all()]

    def set_version_description(
        self, name: str, version: int, description: str, *, actor: str
    ) -> None:
        at = now_us()
        with self.write() as conn:
            self._version_row(conn, name, version)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(description=description)
            )
            self.audit(
                conn,
                actor,
                "version.describe",
                f"{name}/{version}",
                {"description": description},
                at,
            )

    def delete_version(self, name: str, version: int, *, actor: str) -> None:
        at = now_us()
        with self.write() as conn:
            self._version_row(conn, name, version)
            held = (
                conn.execute(
                    select(aliases.c.alias).where(
                        aliases.c.name == name, aliases.c.version == version
                    )
                )
                .scalars()
                .all()
            )
            if held:
                raise Conflict(
                    f"cannot delete {name}/{version}: alias "
                    f"{', '.join('@' + a for a in held)} points to it; move or delete the alias first"
                )
            conn.execute(
                delete(version_tags).where(
                    version_tags.c.name == name, version_tags.c.version == version
                )
            )
            conn.execute(
                delete(model_versions).where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            )
            self.audit(conn, actor, "version.delete", f"{name}/{version}", {}, at)

    # -- tags ---------------------------------------------------------------------------------------

    def set_tag(self, name: str, version: int | None, key: str, value: str, *, actor: str) -> None:
        if not key:
            raise InvalidArgument("tag key must not be empty")
        at = now_us()
        with self.write() as conn:
            if version is None:
                self._model_row(conn, name)
                keys: dict[str, str | int] = {"name": name, "key": key}
                table = model_tags
                target = name
            else:
                self._version_row(conn, name, version)
                keys = {"name": name, "version": version, "key": key}
                table = version_tags
                target = f"{name}/{version}"
            stmt = _insert(conn)(table).values(**keys, value=value)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=list(keys), set_={"value": value})
            )
            self.audit(conn, actor, "tag.set", target, {"key": key, "value": value}, at)

    def delete_tag(self, name: str, version: int | None, key: str, *, actor: str) -> None:
        at = now_us()
        with self.write() as conn:
            if version is None:
                self._model_row(conn, name)
                result = conn.execute(
                    delete(model_tags).where(model_tags.c.name == name, model_tags.c.key == key)
                )
                target = name
            else:
                self._version_row(conn, name, version)
                result = conn.execute(
                    delete(version_tags).where(
                        version_tags.c.name == name,
                        version_tags.c.version == version,
                        version_tags.c.key == key,
                    )
                )
                target = f"{name}/{version}"
            if result.rowcount == 0:
                raise NotFound(f"{target} has no tag {key!r}")
            self.audit(conn, actor, "tag.delete", target, {"key": key}, at)

    # -- aliases ------------------------------------------------------------------------------------

    def _lock_aliases(self, conn: Connection, name: str, alias: str) -> tuple[int | None, int]:
        """Lock ``name``'s aliases; return ``name@alias``'s version and the time of this move.

        The lock is the model's row (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already
        serialises writers). It exists even before the alias's first move, so two first moves
        order too. Read under it, the previous version is exact, and the clock read after it
        (strictly after the alias's last event) orders event times as commits are ordered.
        """
        locked = conn.execute(
            select(registered_models.c.name)
            .where(registered_models.c.name == name)
            .with_for_update()
        ).first()
        if locked is None:
            raise NotFound(f"model {name!r} does not exist")
        previous = conn.execute(
            select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
        ).scalar()
        last = conn.execute(
            select(func.max(alias_events.c.at)).where(
                alias_events.c.name == name, alias_events.c.alias == alias
            )
        ).scalar()
        return previous, after(last)

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str = ""
    ) -> AliasEvent:
        with self.write() as conn:
            previous, at = self._lock_aliases(conn, name, alias)
            self._version_row(conn, name, version)
            guard.check_alias(conn, name, alias, version)  # protected aliases: approved only
            stmt = _insert(conn)(aliases).values(
                name=name, alias=alias, version=version, updated_at=at, updated_by=actor
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name", "alias"],
                    set_={"version": version, "updated_at": at, "updated_by": actor},
                )
            )
            return self._alias_event(conn, name, alias, previous, version, actor, at, reason)

    def delete_alias(self, name: str, alias: str, *, actor: str, reason: str = "") -> AliasEvent:
        with self.write() as conn:
            previous, at = self._lock_aliases(conn, name, alias)
            if previous is None:
                raise NotFound(f"model {name!r} has no alias @{alias}")
            conn.execute(delete(aliases).where(aliases.c.name == name, aliases.c.alias == alias))
            return self._alias_event(conn, name, alias, previous, None, actor, at, reason)

    def _alias_event(
        self,
        conn: Connection,
        name: str,
        alias: str,
        previous: int | None,
        version: int | None,
        actor: str,
        at: int,
        reason: str,
    ) -> AliasEvent:
        event_id = conn.execute(
            insert(alias_events)
            .values(
                name=name,
                alias=alias,
                from_version=previous,
                to_version=version,
                actor=actor,
                at=at,
                reason=reason,
            )
            .returning(alias_events.c.id)
        ).scalar_one()
        action = "alias.set" if version is not None else "alias.delete"
        self.audit(
            conn,
            actor,
            action,
            f"{name}@{alias}",
            {"from": previous, "to": version, "reason": reason},
            at,
        )
        return AliasEvent(
            id=event_id,
            name=name,
            alias=alias,
            from_version=previous,
            to_version=version,
            actor=actor,
            at=to_datetime(at),
            reason=reason,
        )

    def get_alias(self, name: str, alias: str) -> Alias:
        with self.read() as conn:
            row = conn.execute(
                select(aliases).where(aliases.c.name == name, aliases.c.alias == alias)
            ).first()
            if row is None:
                self._model_row(conn, name)
                raise NotFound(f"model {name!r} has no alias @{alias}")
        return Alias(
            name=row.name,
            alias=row.alias,
            version=row.version,
            updated_at=to_datetime(row.updated_at),
            updated_by=row.updated_by,
        )

    def list_aliases(self, name: str) -> list[Alias]:
        with self.read() as conn:
            self._model_row(conn, name)
            rows = conn.execute(
                select(aliases).where(aliases.c.name == name).order_by(aliases.c.alias)
            ).all()
        return [
            Alias(
                name=r.name,
                alias=r.alias,
                version=r.version,
                updated_at=to_datetime(r.updated_at),
                updated_by=r.updated_by,
            )
            for r in rows
        ]

    @staticmethod
    def _event(row: Row[Any]) -> AliasEvent:
        return AliasEvent(
            id=row.id,
            name=row.name,
            alias=row.alias,
            from_version=row.from_version,
            to_version=row.to_version,
            actor=row.actor,
            at=to_datetime(row.at),
            reason=row.reason,
        )

    def alias_history(self, name: str, alias: str) -> list[AliasEvent]:
        with self.read() as conn:
            rows = conn.execute(
                select(alias_events)
                .where(alias_events.c.name == name, alias_events.c.alias == alias)
                .order_by(alias_events.c.id)
            ).all()
            if not rows:
                self._model_row(conn, name)
        return [self._event(r) for r in rows]

    def alias_at(self, name: str, alias: str, at: dt.datetime) -> int | None:
        with self.read() as conn:
            row = conn.execute(
                select(alias_events.c.to_version)
                .where(
                    and_(
                        alias_events.c.name == name,
                        alias_events.c.alias == alias,
                        alias_events.c.at <= to_us(at),
                    )
                )
                .order_by(alias_events.c.at.desc(), alias_events.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                self._model_row(conn, name)
                return None
            return int(row.to_version) if row.to_version is not None else None

    # -- audit --------------------------------------------------------------------------------------

    def list_audit(
        self,
        *,
        since: dt.datetime | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(audit_events.c.at >= to_us(since))
        if action:
            query = query.where(audit_events.c.action.startswith(action, autoescape=True))
        if target:
            query = query.where(
                (audit_events.c.target == target)
                | audit_events.c.target.startswith(target + "/", autoescape=True)
                | audit_events.c.target.startswith(target + "@", autoescape=True)
            )
        with self.read() as conn:
            rows = conn.execute(query).all()
        return [
            AuditEvent(
                id=r.id,
                at=to_datetime(r.at),
                actor=r.actor,
                action=r.action,
                target=r.target,
                details=r.details,
            )
            for r in rows
        ]

    def verify_audit(self, *, tail: int | None = None) -> ChainReport:
        """Check the audit chain (every link, or the last ``tail``) and its head."""
        with self.read() as conn:
            return audit_chain.verify(conn, tail=tail)

    def add_audit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        """Record an event that changed nothing in this database (a failed job, a verdict)."""
        with self.write() as conn:
            self.audit(conn, actor, action, target, details, now_us())

    def change_feed(self) -> ChangeFeed:
        """Wakes a follower when the registry changes (PostgreSQL), or lets it poll (SQLite)."""
        return open_feed(self.engine)

    def revision(self) -> int:
        with self.read() as conn:
            return int(
                conn.execute(select(func.coalesce(func.max(audit_events.c.id), 0))).scalar_one()
            )
