"""Prometheus metrics of the serving path, on a registry of their own (one per server instance).

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by ``shipyard serve`` and
``/metrics`` aggregates every worker's values.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "shipyard_requests",
            "Prediction requests by endpoint, version, protocol and status code.",
            ["endpoint", "version", "protocol", "code"],
            registry=r,
        )
        self.queue_seconds = Histogram(
            "shipyard_queue_seconds",
            "Time a request waited for its batch.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_seconds = Histogram(
            "shipyard_inference_seconds",
            "Time in the model's predict call.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "shipyard_request_seconds",
            "Total time to answer a prediction request.",
            ["endpoint", "version", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "shipyard_batch_rows",
            "Rows per predict call.",
            ["endpoint"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "shipyard_in_flight_requests",
            "Prediction requests being answered.",
            ["endpoint"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.load_seconds = Gauge(
            "shipyard_model_load_seconds",
            "Time to fetch, verify, load and warm a version.",
            ["endpoint", "version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.swaps = Counter(
            "shipyard_model_swaps",
            "Versions swapped in while serving.",
            ["endpoint"],
            registry=r,
        )
        self.log_dropped = Counter(
            "shipyard_log_dropped_rows",
            "Prediction-log rows dropped because the log queue was full.",
            registry=r,
        )
        self.shadows_skipped = Counter(
            "shipyard_shadows_skipped",
            "Shadow copies skipped because too many were pending.",
            ["endpoint"],
            registry=r,
        )
        self.load_failures = Counter(
            "shipyard_model_load_failures",
            "Versions that failed to load or warm.",
            ["endpoint"],
            registry=r,
        )
        self.explain_failures = Counter(
            "shipyard_explain_failures",
            "Sampled requests whose explanation failed (logged without attributions).",
            ["endpoint"],
            registry=r,
        )

    def render(self) -> bytes:
        if self.multiprocess_dir:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))
