"""Retention: delete the days of the log older than a retention period, predictions and labels.

Each endpoint keeps ``per_endpoint[endpoint]`` (default ``default``). Deletion is by whole UTC days:
a day folder is deleted once its *last* instant is older than ``now - retention``, so data is kept at
least as long as the retention. Labels live in ``feedback/date=`` folders by arrival day and are
deleted with the longest retention of all endpoints (a label arrives after its prediction, so no
kept prediction loses its label).

Atomicity, step by step: (1) every day folder to delete gets a ``_retired`` marker, after which
readers skip it whole; (2) the request-id and label indexes drop the entries of those days; (3) the files and
folders are deleted. A run killed anywhere leaves retired folders, which the next run finishes
deleting. Predictions are retired before labels, so a visible prediction never lacks its label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from shipyard.telemetry._storage import FEEDBACK, RETIRED, SegmentStore
from shipyard.telemetry.index import RequestIndex

DEFAULT_RETENTION = timedelta(days=30)


@dataclass
class RetentionReport:
    folders: list[str] = field(default_factory=list)
    index_entries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"folders_deleted": len(self.folders), "index_entries_deleted": self.index_entries}


def _first_kept_day(now: datetime, keep: timedelta) -> date:
    """The oldest day whose last instant is within ``keep`` of ``now``."""
    return (now - keep).date()


def apply_retention(
    store: SegmentStore,
    index: RequestIndex,
    label_index: RequestIndex,
    *,
    now: datetime | None = None,
    default: timedelta = DEFAULT_RETENTION,
    per_endpoint: Mapping[str, timedelta] | None = None,
) -> RetentionReport:
    """Delete the days older than the retention (see the module doc)."""
    now = now or datetime.now(UTC)
    overrides = dict(per_endpoint or {})
    report = RetentionReport()
    doomed: list[str] = []
    cutoffs: dict[str, datetime] = {}
    for folder in store.endpoint_folders():
        endpoint = unquote(folder.rsplit("/", 1)[-1][len("endpoint=") :])
        first_kept = _first_kept_day(now, overrides.get(endpoint, default))
        old = [path for day, path in store.day_folders(folder) if day < first_kept]
        if old:
            cutoffs[endpoint] = datetime(
                first_kept.year, first_kept.month, first_kept.day, tzinfo=UTC
            )
        doomed.extend(old)
    longest = max([default, *overrides.values()])
    first_label_day = _first_kept_day(now, longest)
    labels = [
        path for day, path in store.day_folders(store.path(FEEDBACK)) if day < first_label_day
    ]
    for path in [*doomed, *labels]:  # (1) invisible at once, predictions before labels
        if RETIRED not in store.ls(path):
            store.write_text(f"{path}/{RETIRED}", "")
    report.index_entries = index.purge(cutoffs)  # (2)
    if labels:
        first = datetime(
            first_label_day.year, first_label_day.month, first_label_day.day, tzinfo=UTC
        )
        report.index_entries += label_index.purge({"": first})
    for path in [*doomed, *labels]:  # (3)
        store.delete_folder(path)
        report.folders.append(path)
    return report


__all__ = ["DEFAULT_RETENTION", "RetentionReport", "apply_retention"]
