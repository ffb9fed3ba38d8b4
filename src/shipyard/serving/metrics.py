"""Prometheus metrics of the serving path, on a registry of their own (one per server instance).

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by ``shipyard serve`` and
``/metrics`` aggregates every worker's values.

Process and runtime metrics are prometheus_client's standard collectors. In one process they are
registered as usual (``process_*``, ``python_info``, ``python_gc_*``). With several workers the
worker that answers the scrape reads every live worker's ``/proc`` entry through
``ProcessCollector`` (workers are found by the pids in the multi-process directory's file names)
and sums them (CPU seconds, memory, open file descriptors; the earliest start time, the largest fd
limit), so ``process_resident_memory_bytes`` is the whole server's; ``python_gc_*`` is left out
there, as it describes only the answering worker. ``add_collector`` adds collectors whose values
do not depend on the process (e.g. monitor results read from the store).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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

        self.extra: list[Collector] = []
        if not multiprocess_dir:
            for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(standard)

    def add_collector(self, collector: Collector) -> None:
        """Expose ``collector`` too (its values must not depend on the answering worker)."""
        self.extra.append(collector)
        if not self.multiprocess_dir:
            self.registry.register(collector)

    def render(self) -> bytes:
        if self.multiprocess_dir:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            merged.register(WorkersProcessCollector(self.multiprocess_dir))
            merged.register(PLATFORM_COLLECTOR)
            for collector in self.extra:
                merged.register(collector)
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))


_PID = re.compile(r"_(\d+)\.db$")


class WorkersProcessCollector(Collector):
    """``process_*`` metrics summed over the live workers of a multi-process server."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def pids(self) -> list[int]:
        found = {int(m.group(1)) for f in self.directory.glob("*.db") if (m := _PID.search(f.name))}
        return sorted(pid for pid in found | {os.getpid()} if Path(f"/proc/{pid}").exists())

    def collect(self) -> Iterator[Metric]:
        totals: dict[str, Metric] = {}
        for pid in self.pids():
            one = ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
            for family in one.collect():
                if family.name not in totals:
                    totals[family.name] = family
                    continue
                kept = totals[family.name]
                for i, (mine, theirs) in enumerate(zip(kept.samples, family.samples, strict=False)):
                    if family.name.endswith("start_time_seconds"):
                        value = min(mine.value, theirs.value)
                    elif family.name.endswith("max_fds"):
                        value = max(mine.value, theirs.value)
                    else:
                        value = mine.value + theirs.value
                    kept.samples[i] = mine._replace(value=value)
        yield from totals.values()
