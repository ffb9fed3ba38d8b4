"""Bearer tokens in the registry database: only the SHA-256 of each secret is stored.

Creating a token whose name belongs to a revoked one replaces it (a rotation keeps the principal's
name); creating one over an active token is ``AlreadyExists``. Every change writes an audit event in
its transaction; lookups by hash use a unique index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from shipyard.core.errors import AlreadyExists, NotFound
from shipyard.registry.entities import Token
from shipyard.registry.sql.audit import event_time
from shipyard.registry.sql.store import SqlRegistryStore, now_us, to_datetime
from shipyard.registry.sql.tables import tokens


def _token(row: Row[Any]) -> Token:
    return Token(
        name=row.name,
        roles=tuple(row.roles),
        created_at=to_datetime(row.created_at),
        created_by=row.created_by,
        expires_at=None if row.expires_at is None else to_datetime(row.expires_at),
        revoked_at=None if row.revoked_at is None else to_datetime(row.revoked_at),
    )


class SqlTokenStore:
    def __init__(self, registry: SqlRegistryStore) -> None:
        self.registry = registry

    def create(
        self,
        name: str,
        roles: tuple[str, ...],
        secret_hash: str,
        *,
        expires_at: int | None,
        actor: str,
    ) -> Token:
        with self.registry.write() as conn:
            at = event_time(conn)
            row = conn.execute(select(tokens).where(tokens.c.name == name)).first()
            if row is not None:
                if row.revoked_at is None and (row.expires_at is None or row.expires_at > at):
                    raise AlreadyExists(
                        f"token {name!r} exists; revoke it first (`shipyard tokens revoke {name}`)"
                    )
                conn.execute(delete(tokens).where(tokens.c.name == name))
            conn.execute(
                insert(tokens).values(
                    name=name,
                    roles=list(roles),
                    secret_hash=secret_hash,
                    created_at=at,
                    created_by=actor,
                    expires_at=expires_at,
                    revoked_at=None,
                )
            )
            self.registry.audit(
                conn,
                actor,
                "token.create",
                name,
                {"roles": list(roles), "expires_at": expires_at},
                at,
            )
            return _token(conn.execute(select(tokens).where(tokens.c.name == name)).one())

    def revoke(self, name: str, *, actor: str) -> Token:
        with self.registry.write() as conn:
            at = event_time(conn)
            done = conn.execute(
                update(tokens)
                .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            if done.rowcount == 0:
                exists = conn.execute(select(tokens.c.name).where(tokens.c.name == name)).first()
                raise NotFound(
                    f"no token named {name!r}"
                    if exists is None
                    else f"token {name!r} is already revoked"
                )
            self.registry.audit(conn, actor, "token.revoke", name, {}, at)
            return _token(conn.execute(select(tokens).where(tokens.c.name == name)).one())

    def all(self) -> list[Token]:
        with self.registry.read() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.name)).all()
        return [_token(r) for r in rows]

    def by_hash(self, secret_hash: str) -> tuple[Token, str] | None:
        """The token whose secret hashes to ``secret_hash`` and the stored hash, or None."""
        with self.registry.read() as conn:
            row = conn.execute(select(tokens).where(tokens.c.secret_hash == secret_hash)).first()
        return None if row is None else (_token(row), str(row.secret_hash))

    def count_active(self) -> int:
        at = now_us()
        with self.registry.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(tokens)
                    .where(
                        tokens.c.revoked_at.is_(None),
                        (tokens.c.expires_at.is_(None)) | (tokens.c.expires_at > at),
                    )
                ).scalar_one()
            )
