"""``TokenService``: create, list, revoke and check bearer tokens.

A secret is ``shy_`` + 43 URL-safe characters (256 random bits) and is shown once; the registry keeps
only its SHA-256. A high-entropy secret needs no slow hash: nobody can search 2^256 inputs, and a
lookup by hash leaks nothing useful about other tokens. The stored hash is still compared in constant
time after the indexed lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from shipyard.core.errors import InvalidArgument, Unauthenticated
from shipyard.registry.access import Principal, Role, parse_roles
from shipyard.registry.entities import IssuedToken, Token
from shipyard.registry.refs import check_name
from shipyard.registry.sql.tokens import SqlTokenStore

PREFIX = "shy_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(self, store: SqlTokenStore) -> None:
        self.store = store

    def create(
        self,
        name: str,
        roles: list[str] | tuple[str, ...],
        *,
        actor: str,
        expires_in: dt.timedelta | None = None,
    ) -> IssuedToken:
        """A new token for principal ``name``: the returned secret is the only copy."""
        try:
            check_name(name)
        except InvalidArgument:
            raise InvalidArgument(
                f"invalid token name {name!r}: use letters, digits, '_', '-', '.', starting with a "
                "letter or digit, at most 128 characters"
            ) from None
        checked = parse_roles(tuple(roles))
        if expires_in is not None and expires_in.total_seconds() <= 0:
            raise InvalidArgument("a token's lifetime must be longer than zero")
        secret = PREFIX + secrets.token_urlsafe(32)
        expires_at = (
            None
            if expires_in is None
            else int((dt.datetime.now(dt.UTC) + expires_in).timestamp() * 1_000_000)
        )
        token = self.store.create(
            name,
            tuple(str(r) for r in checked),
            hash_secret(secret),
            expires_at=expires_at,
            actor=actor,
        )
        return IssuedToken(token, secret)

    def list(self) -> list[Token]:
        return self.store.all()

    def revoke(self, name: str, *, actor: str) -> Token:
        return self.store.revoke(name, actor=actor)

    def any_active(self) -> bool:
        return self.store.count_active() > 0

    def authenticate(self, secret: str) -> Principal:
        """The principal a presented secret belongs to; ``Unauthenticated`` for anything else."""
        if not secret.startswith(PREFIX):
            raise Unauthenticated("the bearer token is not a Shipyard token")
        digest = hash_secret(secret)
        found = self.store.by_hash(digest)
        if found is None or not hmac.compare_digest(found[1], digest):
            raise Unauthenticated("the bearer token is unknown")
        token = found[0]
        now = dt.datetime.now(dt.UTC)
        if token.revoked_at is not None:
            raise Unauthenticated(f"the token {token.name!r} was revoked")
        if not token.active(now):
            raise Unauthenticated(f"the token {token.name!r} has expired")
        return Principal(token.name, tuple(Role(r) for r in token.roles), kind="token")
