"""Gathering a rollout analysis's evidence from the prediction log (the I/O half of the gates)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd

from shipyard.lifecycle.gates import VersionWindow
from shipyard.stats.drift.base import stattest_named
from shipyard.stats.profile import build_profile, observe
from shipyard.telemetry.reader import LogReader

COLUMNS = ["ts", "request_id", "version", "route", "status", "latency_ms", "out.prediction"]


def _window(frame: pd.DataFrame, version: int) -> VersionWindow:
    rows = frame[frame["version"] == version]
    if rows.empty:
        return VersionWindow(version=version)
    per_request = rows.groupby("request_id", sort=False).agg(
        status=("status", "first"), latency_ms=("latency_ms", "first")
    )
    answered = per_request[per_request["status"] != "invalid"]
    p99 = float(np.percentile(answered["latency_ms"], 99)) if len(answered) else None
    return VersionWindow(
        version=version,
        requests=len(per_request),
        errors=int((per_request["status"] == "error").sum()),
        invalid=int((per_request["status"] == "invalid").sum()),
        p99_ms=p99,
    )


MIN_PREDICTIONS = 30


def prediction_psi(stable: pd.Series, candidate: pd.Series) -> float | None:
    """PSI of the candidate's predictions against the stable version's; None on too few of either."""
    stable, candidate = stable.dropna(), candidate.dropna()
    if len(stable) < MIN_PREDICTIONS or len(candidate) < MIN_PREDICTIONS:
        return None
    reference = build_profile(pd.DataFrame({"p": stable.to_numpy()}))
    window = observe(pd.DataFrame({"p": candidate.to_numpy()}), reference)
    outcome = stattest_named("psi").compute(reference.columns["p"], window.columns["p"], None)
    return float(outcome.statistic) if np.isfinite(outcome.statistic) else None


def _accuracy(labelled: pd.DataFrame, version: int) -> tuple[float | None, int]:
    rows = labelled[(labelled["version"] == version) & labelled["label"].notna()]
    if rows.empty or "out.prediction" not in rows.columns:
        return None, 0
    labels = [json.loads(v) for v in rows["label"]]
    preds = rows["out.prediction"].tolist()
    correct = sum(1 for a, b in zip(preds, labels, strict=True) if a == b or str(a) == str(b))
    return correct / len(rows), len(rows)


def gather(
    reader: LogReader,
    endpoint: str,
    since: dt.datetime,
    until: dt.datetime,
    *,
    stable_version: int,
    candidate_version: int,
    candidate_route: str = "primary",
    baseline_since: dt.datetime | None = None,
) -> dict[str, Any]:
    """Windows of both versions, the prediction shift between them, and accuracy where labelled.

    The stable version's predictions are taken from ``baseline_since`` (the rollout's start) so the
    comparison holds even at steps where the stable version gets little or no traffic.
    """
    frame = reader.predictions(
        endpoint, min(since, baseline_since or since), until, columns=COLUMNS
    )
    baseline = frame
    frame = frame[frame["ts"] >= pd.Timestamp(since)] if "ts" in frame.columns else frame
    stable_rows = frame[frame["route"] == "primary"]
    candidate_rows = frame[frame["route"] == candidate_route]
    # the stable version's baseline spans the whole rollout: at late steps it gets little traffic
    stable = _window(baseline[baseline["route"] == "primary"], stable_version)
    candidate = _window(candidate_rows, candidate_version)
    psi = None
    if "out.prediction" in frame.columns:
        psi = prediction_psi(
            stable_rows.loc[
                (stable_rows["version"] == stable_version) & (stable_rows["status"] == "ok"),
                "out.prediction",
            ],
            candidate_rows.loc[
                (candidate_rows["version"] == candidate_version)
                & (candidate_rows["status"] == "ok"),
                "out.prediction",
            ],
        )
    labelled = reader.with_labels(endpoint, since, until)
    if not labelled.empty:
        s_acc, s_n = _accuracy(labelled[labelled["route"] == "primary"], stable_version)
        c_acc, c_n = _accuracy(labelled[labelled["route"] == candidate_route], candidate_version)
        stable = VersionWindow(**{**stable.__dict__, "accuracy": s_acc, "labelled": s_n})
        candidate = VersionWindow(**{**candidate.__dict__, "accuracy": c_acc, "labelled": c_n})
    return {"stable": stable, "candidate": candidate, "prediction_psi": psi}
