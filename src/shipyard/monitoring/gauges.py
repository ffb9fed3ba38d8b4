"""The latest monitor results as Prometheus gauges, read from the monitor store at scrape time.

``MonitorCollector`` is a ``prometheus_client`` collector: on each scrape it reads, per endpoint,
the points of the latest monitor run (``SqlMonitorStore.latest_run_points``) and exposes::

    shipyard_drift_score{endpoint,feature,stat}      a test's statistic (ks, psi, wasserstein,
                                                     jensenshannon, chisquare, missing) or p_value
    shipyard_drift_detected{endpoint,feature}        1 when the column drifted, else 0
    shipyard_dataset_drift{endpoint}                 1 when any column drifted, else 0
    shipyard_estimated_performance{endpoint,metric}  label-free estimate (accuracy, roc_auc)

Reading the store (rather than gauges set in the process that ran the monitor) makes every worker
of a server, and a monitor run from the CLI in another process, give the same answer: no
multi-process aggregation is needed. The metric points are named by ``MonitorResult.values``:
``feature.<column>.<stat>``, ``drift.dataset``, ``estimated.<metric>``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shipyard.registry.store import MonitorStore

log = logging.getLogger("shipyard.monitoring")

FEATURE, DATASET, ESTIMATED = "feature.", "drift.dataset", "estimated."
NOT_SCORES = {"drift", "missing_share"}
"""Per-feature points that are not a drift statistic (``drift`` is its own gauge)."""


class MonitorCollector(Collector):
    def __init__(self, store: MonitorStore) -> None:
        self.store = store

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families().values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        try:
            points = self.store.latest_run_points()
        except Exception:  # a scrape must still answer (serving metrics) when the store cannot
            log.warning("monitor results unavailable for /metrics", exc_info=True)
            points = []
        for point in points:
            e = point.endpoint
            if point.metric == DATASET:
                families["dataset"].add_metric([e], point.value)
            elif point.metric.startswith(ESTIMATED):
                families["estimated"].add_metric([e, point.metric[len(ESTIMATED) :]], point.value)
            elif point.metric.startswith(FEATURE):
                feature, _, stat = point.metric[len(FEATURE) :].rpartition(".")
                if stat == "drift":
                    families["detected"].add_metric([e, feature], point.value)
                elif stat not in NOT_SCORES:
                    families["score"].add_metric([e, feature, stat], point.value)
        yield from families.values()

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            "score": GaugeMetricFamily(
                "shipyard_drift_score",
                "Drift statistic of a feature in the latest monitor run (stat: the test).",
                labels=["endpoint", "feature", "stat"],
            ),
            "detected": GaugeMetricFamily(
                "shipyard_drift_detected",
                "1 when the feature drifted in the latest monitor run.",
                labels=["endpoint", "feature"],
            ),
            "dataset": GaugeMetricFamily(
                "shipyard_dataset_drift",
                "1 when any input column drifted in the latest monitor run.",
                labels=["endpoint"],
            ),
            "estimated": GaugeMetricFamily(
                "shipyard_estimated_performance",
                "Label-free performance estimate (CBPE) of the latest monitor run.",
                labels=["endpoint", "metric"],
            ),
        }
