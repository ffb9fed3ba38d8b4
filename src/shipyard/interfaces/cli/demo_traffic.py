"""The demo's customers: seeded requests of the churn example, with their labels sent back as feedback.

One background thread sends requests one after another (no pacing: the server sets the rate) and
sends the labels of every ``label_every`` requests in one feedback call, right after them. ``change_world`` switches
to the drifted world from the next request on; ``changed_at`` is stamped just before that request is
drawn, after every request of the old world was answered, so every logged row of the old world is
older than it. Row ``i`` of either world is the same on every run (fixed seeds); only how many rows
fall into each monitor window depends on the machine's speed.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import ShipyardError

ROWS_PER_REQUEST = 200
"""Many rows per request: the retraining window holds enough labelled rows even on a slow machine."""
LABEL_EVERY = 1
"""Requests whose labels go in one feedback call (1: labels follow their predictions closely)."""
SEEDS = {False: 1_000_000, True: 2_000_000}
"""First seed of each world's requests."""


@dataclass
class Traffic:
    url: str
    endpoint: str
    rows: int = ROWS_PER_REQUEST
    label_every: int = LABEL_EVERY
    sent: int = 0
    errors: int = 0
    labelled: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    changed_at: dt.datetime | None = None
    failure: str | None = None
    """Why the thread stopped early (the server went away, ...)."""
    _change: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        return self

    def change_world(self) -> None:
        self._change.set()

    def halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def check(self) -> None:
        if self.failure is not None:
            raise ShipyardError(f"the demo traffic stopped: {self.failure}")

    def _run(self) -> None:
        import httpx

        try:
            with httpx.Client(base_url=self.url, timeout=60) as http:
                self._loop(http)
        except Exception as exc:  # surfaced by check() in the demo's waits
            if not self._stop.is_set():
                self.failure = f"{type(exc).__name__}: {exc}"

    def _loop(self, http: Any) -> None:
        from shipyard.examples.churn import generate

        pending: list[dict[str, Any]] = []
        count = {False: 0, True: 0}
        while not self._stop.is_set():
            drifted = self._change.is_set()
            if drifted and self.changed_at is None:
                self.changed_at = dt.datetime.now(dt.UTC)
            count[drifted] += 1
            frame, labels = generate(self.rows, SEEDS[drifted] + count[drifted], drifted=drifted)
            r = http.post(
                f"/v1/models/{self.endpoint}/predict?probabilities=false",
                content=frame.to_json(orient="records"),
                headers={"content-type": "application/json"},
            )
            self.sent += 1
            version = r.headers.get("x-model-version", "?")
            self.versions[version] = self.versions.get(version, 0) + 1
            if r.status_code != 200:
                self.errors += 1
                continue
            pending.append({"request_id": r.headers["x-request-id"], "label": labels.tolist()})
            if len(pending) >= self.label_every:
                answer = http.post("/v1/feedback", json={"items": pending})
                answer.raise_for_status()
                self.labelled += int(answer.json()["accepted"])
                pending = []
