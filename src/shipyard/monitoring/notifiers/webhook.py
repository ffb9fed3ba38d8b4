"""The ``webhook`` notifier: a JSON POST signed with HMAC-SHA256, retried with backoff.

Headers: ``X-Shipyard-Signature: sha256=<hex HMAC of the raw body with the shared secret>`` and
``X-Shipyard-Timestamp``. The body has a top-level ``text`` field, so a Slack incoming webhook URL works
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

import httpx

from shipyard.core.errors import InvalidArgument, Unavailable
from shipyard.monitoring.notifiers.base import Notification, Notifier

SIGNATURE_HEADER = "X-Shipyard-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
        headers = {
            "content-type": "application/json",
            "X-Shipyard-Timestamp": str(int(time.time())),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
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
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise Unavailable(f"webhook {self.url} failed after {attempts} attempt(s): {last}")


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
