"""Process metrics of a multi-worker server are the sum over its live workers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shipyard.serving.metrics import ServingMetrics, WorkersProcessCollector


class Fixed(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "shipyard_fixed", "A value that does not depend on the worker.", 7.0
        )


def value(collector: object, name: str) -> float:
    for family in collector.collect():  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not collected")


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_workers_are_found_by_their_files_and_summed(
    tmp_path: Path, worker: subprocess.Popen[bytes]
) -> None:
    (tmp_path / f"counter_{worker.pid}.db").touch()
    (tmp_path / "counter_999999999.db").touch()  # a dead worker is skipped
    collector = WorkersProcessCollector(str(tmp_path))
    assert set(collector.pids()) >= {worker.pid} and 999999999 not in collector.pids()
    mine = ProcessCollector(registry=None)
    theirs = ProcessCollector(pid=lambda: worker.pid, registry=None)
    name = "process_max_fds"
    assert value(collector, name) == max(value(mine, name), value(theirs, name))
    fds = value(collector, "process_open_fds")
    assert fds >= value(theirs, "process_open_fds") + 1  # both workers' descriptors
    start = value(collector, "process_start_time_seconds")
    assert start == min(
        value(mine, "process_start_time_seconds"), value(theirs, "process_start_time_seconds")
    )


def test_multiprocess_render_has_process_and_extra_collectors(tmp_path: Path) -> None:
    metrics = ServingMetrics(multiprocess_dir=str(tmp_path))
    metrics.add_collector(Fixed())
    text = metrics.render().decode()
    assert "process_resident_memory_bytes" in text and "python_info" in text
    assert "python_gc_objects_collected_total" not in text  # one worker's GC: left out
    assert "shipyard_fixed 7.0" in text
    single = ServingMetrics().render().decode()
    assert "python_gc_objects_collected_total" in single and "process_cpu_seconds_total" in single
