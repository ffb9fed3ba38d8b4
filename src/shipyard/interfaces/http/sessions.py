"""Browser sessions of the console: a token given once at sign-in, then a cookie.

The console authenticates with the same bearer tokens and roles as the API. Signing in checks the
token and keeps it **on the server** under a random session id; the browser holds only that id, in a
cookie that scripts cannot read (``HttpOnly``), that other sites never send (``SameSite=Strict``) and
that only the console receives (``Path=/ui``). Each request re-checks the kept token through the
same cache as a bearer header, so revoking the token ends its sessions within a second.

Every form also carries a CSRF token, compared with the one of the session (or, without a session,
with a ``shipyard_csrf`` cookie: the double-submit pattern, for a server that needs no sign-in).

Sessions live in the server's memory: a restart signs everyone out, and with ``--workers`` above 1
each worker has its own, so the console is served by ``shipyard ui`` or a one-worker ``serve``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

CONSOLE = "/ui"
"""Where the console is mounted: the path of its cookies, and the routes that use sessions."""
SESSION_COOKIE = "shipyard_session"
CSRF_COOKIE = "shipyard_csrf"
CSRF_FIELD = "csrf"
IDLE_SECONDS = 8 * 3600.0
"""A session unused this long is forgotten."""
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    secret: str
    """The bearer token given at sign-in: never sent back to the browser."""
    name: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)


class SessionStore:
    """Sessions by id, bounded in number and idle time."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.idle_seconds = idle_seconds
        self.limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def open(self, secret: str, name: str) -> Session:
        session = Session(secrets.token_urlsafe(32), secret, name)
        self._sessions[session.id] = session
        while len(self._sessions) > self.limit:  # the least recently used goes first
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self.idle_seconds:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)


def cookie(headers: dict[str, str], name: str) -> str | None:
    """The value of cookie ``name`` in a request's (lower-cased) headers."""
    for part in headers.get("cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def same(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
