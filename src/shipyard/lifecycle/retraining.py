"""Retraining: the training window from the log, a user entrypoint run in a subprocess, and the new
version registered with its lineage (trigger, data window, parent version, code version).

The window is the prediction log joined with its labels between two times; its most recent
``holdout`` share (by time) is kept aside for the champion/challenger evaluation and is not given to
the training job. The job runs with a timeout; its output is captured. Nothing is registered unless
the job succeeded and wrote a valid package, so a failure leaves no half-registered version.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.core.errors import InvalidArgument, ShipyardError
from shipyard.registry.entities import ModelVersion
from shipyard.registry.service import RegistryService
from shipyard.telemetry.reader import LogReader

DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RetrainJob:
    entrypoint: str
    """``module:function`` (called with the window DataFrame and the champion's reference) or
    ``cmd:<shell command>`` (reads $SHIPYARD_TRAIN_DATA, writes a package to $SHIPYARD_OUTPUT)."""
    timeout: float = DEFAULT_TIMEOUT_S
    holdout: float = 0.2
    """Most recent share of the labelled window kept for evaluation, not training."""
    min_rows: int = 50

    def __post_init__(self) -> None:
        if not (self.entrypoint.startswith("cmd:") or ":" in self.entrypoint):
            raise InvalidArgument(
                f"entrypoint {self.entrypoint!r}: expected module:function or cmd:COMMAND"
            )
        if not 0 < self.holdout < 1:
            raise InvalidArgument("holdout must be between 0 and 1")


@dataclass
class RetrainResult:
    ok: bool
    version: ModelVersion | None = None
    error: str | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    rows: int = 0
    holdout: pd.DataFrame | None = field(default=None, repr=False)
    window: tuple[dt.datetime, dt.datetime] | None = None


def labelled_window(
    reader: LogReader, endpoint: str, since: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """Features (``in.*`` renamed) and ``label`` of every labelled, answered primary row, by time."""
    frame = reader.with_labels(endpoint, since, until)
    if frame.empty:
        return pd.DataFrame()
    frame = frame[
        (frame["status"] == "ok") & (frame["route"] == "primary") & frame["label"].notna()
    ]
    frame = frame.sort_values("ts", kind="stable")
    features = frame[[c for c in frame.columns if c.startswith("in.")]]
    features.columns = [c[3:] for c in features.columns]
    out = features.reset_index(drop=True)
    out["label"] = [json.loads(v) for v in frame["label"]]
    return out


class Retrainer:
    def __init__(self, registry: RegistryService, reader: LogReader) -> None:
        self.registry = registry
        self.reader = reader

    def run(
        self,
        endpoint: str,
        job: RetrainJob,
        *,
        parent: ModelVersion,
        since: dt.datetime,
        until: dt.datetime,
        trigger: dict[str, Any],
        actor: str = "controller",
    ) -> RetrainResult:
        started = time.perf_counter()
        window = labelled_window(self.reader, endpoint, since, until)
        result = RetrainResult(ok=False, rows=len(window), window=(since, until))
        if len(window) < job.min_rows:
            result.error = f"only {len(window)} labelled rows in the window; need {job.min_rows}"
            return self._failed(result, endpoint, parent, trigger, actor, started)
        cut = int(len(window) * (1 - job.holdout))
        train, result.holdout = window.iloc[:cut], window.iloc[cut:].reset_index(drop=True)
        work = Path(tempfile.mkdtemp(prefix="shipyard-retrain-"))
        try:
            data = work / "window.parquet"
            train.to_parquet(data)
            reference = work / "reference.json"
            raw = self.registry.package_file(parent, "profile.json")
            reference.write_bytes(raw or b"{}")
            lineage = {
                "parent": parent.ref,
                "dataset_name": f"{endpoint} log {since.isoformat()}..{until.isoformat()}",
                "trigger": trigger,
                "window": [since.isoformat(), until.isoformat()],
                "training_rows": len(train),
            }
            out = work / "out"
            out.mkdir()
            completed = self._execute(job, data, reference, out, parent.name, lineage)
            result.stdout, result.stderr = completed.stdout[-20_000:], completed.stderr[-20_000:]
            if completed.returncode != 0:
                last = completed.stderr.strip().splitlines()[-1:] or ["no output"]
                result.error = f"training job exited with {completed.returncode}: {last[0]}"
                return self._failed(result, endpoint, parent, trigger, actor, started)
            result.version = self.registry.register(
                out / "package",
                name=parent.name,
                actor=actor,
                tags={
                    "retrained.from": parent.ref,
                    "retrained.trigger": str(trigger.get("trigger", "")),
                },
            )
            result.ok = True
            self.registry.record(  # the evidence of the job: its window and the tail of its log
                "retrain.done",
                endpoint,
                {
                    "version": result.version.ref,
                    "parent": parent.ref,
                    "trigger": trigger,
                    "window": [since.isoformat(), until.isoformat()],
                    "training_rows": len(train),
                    "log_tail": (result.stdout + result.stderr)[-2000:],
                },
                actor=actor,
            )
        except subprocess.TimeoutExpired:
            result.error = f"training job timed out after {job.timeout:g} s"
            return self._failed(result, endpoint, parent, trigger, actor, started)
        except ShipyardError as exc:
            result.error = f"the training job's package was refused: {exc}"
            return self._failed(result, endpoint, parent, trigger, actor, started)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result.seconds = time.perf_counter() - started
        return result

    def _execute(
        self,
        job: RetrainJob,
        data: Path,
        reference: Path,
        out: Path,
        name: str,
        lineage: dict[str, Any],
    ) -> subprocess.CompletedProcess[str]:
        if job.entrypoint.startswith("cmd:"):
            env = {
                "SHIPYARD_TRAIN_DATA": str(data),
                "SHIPYARD_REFERENCE": str(reference),
                "SHIPYARD_OUTPUT": str(out / "package"),
            }
            import os

            return subprocess.run(
                job.entrypoint[4:],
                shell=True,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=job.timeout,
            )
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "shipyard.lifecycle.retrain_worker",
                "--entry",
                job.entrypoint,
                "--data",
                str(data),
                "--reference",
                str(reference),
                "--out",
                str(out),
                "--name",
                name,
                "--lineage",
                json.dumps(lineage, default=str),
            ],
            capture_output=True,
            text=True,
            timeout=job.timeout,
        )

    def _failed(
        self,
        result: RetrainResult,
        endpoint: str,
        parent: ModelVersion,
        trigger: dict[str, Any],
        actor: str,
        started: float,
    ) -> RetrainResult:
        result.seconds = time.perf_counter() - started
        self.registry.record(
            "retrain.failed",
            endpoint,
            {
                "parent": parent.ref,
                "error": result.error,
                "trigger": trigger,
                "stderr_tail": result.stderr[-2000:],
            },
            actor=actor,
        )
        return result
