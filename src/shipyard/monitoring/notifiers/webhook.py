"""The ``webhook`` notifier: a JSON POST signed with HMAC-SHA256, retried with backoff.

Headers: ``X-Shipyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`` (the
signature covers the timestamp, so a receiver that checks it is recent refuses replays; see
``verify``) and ``X-Shipyard-Timestamp``. Without a secret nothing is signed and the server warns at
start. Logs and errors show the URL without its path, query or credentials (they often hold a token). The body has a top-level ``text`` field, so a Slack incoming webhook URL works
as is. Retries: ``retries`` more attempts (default 3) on connection errors and 5xx/429, waiting
``backoff`` seconds (default 0.5) doubled each time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from shipyard.core.errors import InvalidArgument, Unavailable
from shipyard.monitoring.notifiers.base import Notification, Notifier

SIGNATURE_HEADER = "X-Shipyard-Signature"


TOLERANCE_S = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Shipyard-Signature`` value of ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver does: the header's MAC matches and its timestamp is within ``tolerance``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _mac(secret, timestamp, body))


def redact_url(url: str) -> str:
    """``https://hooks.example.com/services/T0/B0/secret`` -> ``https://hooks.example.com/…``."""
    parsed = urlsplit(url)
    host = parsed.hostname or "?"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}/…"


class WebhookNotifier:
    def __init__(
        self, url: str, *, secret: str | None, retries: int, backoff: float, timeout: float
    ) -> None:
        self.url = url
        self.secret = secret
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout

    def notify(self, notification: Notification) -> None:
        body = json.dumps(notification.payload(), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "X-Shipyard-Timestamp": str(timestamp)}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body, timestamp)
        delay = self.backoff
        last = ""
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts += 1
            try:
                response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
                if response.status_code < 300:
                    return
                last = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refused it: retrying will not help
            except httpx.HTTPError as exc:  # messages may quote the URL: keep only its kind
                last = type(exc).__name__
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise Unavailable(
            f"webhook {redact_url(self.url)} failed after {attempts} attempt(s): {last}"
        )

    @property
    def signed(self) -> bool:
        return bool(self.secret)

    def __repr__(self) -> str:
        return f"WebhookNotifier({redact_url(self.url)})"


class WebhookKind:
    name = "webhook"

    def create(self, options: Mapping[str, Any]) -> Notifier:
        url = options.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidArgument("webhook notifier needs 'url' (http:// or https://)")
        return WebhookNotifier(
            url,
            secret=options.get("secret"),
            retries=int(options.get("retries", 3)),
            backoff=float(options.get("backoff", 0.5)),
            timeout=float(options.get("timeout", 5.0)),
        )
