"""Telemetry: the prediction and feedback log (schema, segment writer, DuckDB reader).

* ``records``  — ``PredictionEvent`` (what the server hands over) and its Arrow layout.
* ``writer``   — ``SegmentWriter``: non-blocking ``submit``, background Parquet segments.
* ``reader``   — ``LogReader``: windows, streaming batches, label joins, computational summaries.
* ``feedback`` — ``FeedbackLog``: ground-truth labels, checked against the log, upserted on read.

On-disk layout under a root (local folder or fsspec URL)::

    predictions/endpoint={endpoint}/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet
    feedback/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet

Segments are immutable and published atomically (temporary name + rename locally); readers only
match ``part-*.parquet``.
"""

from shipyard.telemetry.feedback import FeedbackLog, FeedbackResult
from shipyard.telemetry.reader import LogReader
from shipyard.telemetry.records import PredictionEvent, events_to_table
from shipyard.telemetry.writer import SegmentWriter

__all__ = [
    "FeedbackLog",
    "FeedbackResult",
    "LogReader",
    "PredictionEvent",
    "SegmentWriter",
    "events_to_table",
]
