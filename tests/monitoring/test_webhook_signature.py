"""Webhook signatures cover the timestamp (replays fail), checked with the docs' own snippet."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.core.errors import Unavailable
from shipyard.monitoring.notifiers.base import Notification, create_notifier
from shipyard.monitoring.notifiers.webhook import sign, verify
from shipyard.registry.entities import Alert
from tests.monitoring.test_alerts import SECRET, Receiver

DOCS = Path(__file__).parents[2] / "docs" / "monitoring.md"


def docs_verifier() -> Callable[[str, bytes, str], bool]:
    text = DOCS.read_text()
    marker = text.index("<!-- webhook-verify")
    code = re.search(r"```python\n(.*?)```", text[marker:], re.DOTALL)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)
    verifier = namespace["verify_shipyard_signature"]
    assert callable(verifier)
    return verifier  # type: ignore[return-value]


def alert() -> Notification:
    now = dt.datetime.now(dt.UTC)
    return Notification(Alert(1, "e", "r", "warning", "open", "m", 1.0, 0.5, now, now), "opened")


def test_a_delivery_verifies_with_the_documented_snippet() -> None:
    check = docs_verifier()
    r = Receiver()
    try:
        create_notifier("webhook", {"url": r.url, "secret": SECRET}).notify(alert())
        assert r.bad_signatures == 0 and len(r.received) == 1
        body, header = r.raw[0]
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
        assert check(SECRET, body, header)
        assert verify(SECRET, body, header)
        assert not check("other", body, header)
        assert not check(SECRET, body + b" ", header)
    finally:
        r.close()


def test_a_replay_or_a_moved_timestamp_is_refused() -> None:
    check = docs_verifier()
    body = b'{"text":"x"}'
    old = int(time.time()) - 301
    assert not check(SECRET, body, sign(SECRET, body, old))  # older than 5 minutes: a replay
    assert check(SECRET, body, sign(SECRET, body, old + 60))
    fresh = sign(SECRET, body, old)
    moved = re.sub(r"t=\d+", f"t={int(time.time())}", fresh)  # renewing t breaks the MAC
    assert not check(SECRET, body, moved)
    assert not verify(SECRET, body, moved)


def test_a_failed_webhook_never_shows_its_url() -> None:
    hook = create_notifier(
        "webhook",
        {"url": "http://127.0.0.1:9/services/T000/B000/tok3n?key=s3cr3t", "retries": 0},
    )
    with pytest.raises(Unavailable) as info:
        hook.notify(alert())
    assert "tok3n" not in str(info.value) and "s3cr3t" not in str(info.value)
    assert "http://127.0.0.1:9/…" in str(info.value)
    assert "tok3n" not in repr(hook)
