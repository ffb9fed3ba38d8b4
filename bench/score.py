"""Batch scoring benchmark: ``shipyard score`` (local and Ray engines) next to a plain pandas loop
and ``mlflow.pyfunc``, plus Ray Serve throughput with 1 and 2 replicas.

Data: ``--rows`` rows (default 10 000 000) x 30 float64 columns, seeded, written untimed in row
groups of 250 000 rows. Models: a logistic regression and a random forest (20 trees, depth 8),
trained on 50 000 rows and registered in a temporary home. Every measurement runs in a fresh child
process (this script with ``--child``), timed with ``time.perf_counter`` from the first read to the
last byte written, with its peak RSS (``ru_maxrss``):

* ``local``: ``BatchScoring.score(engine="local")`` Parquet -> Parquet, ``--batch-size`` rows a
  chunk, prediction log off (``--no-log``: the baselines log nothing either), and on (``local+log``);
* ``pandas``: ``ParquetFile.iter_batches`` -> ``to_pandas`` -> ``model.predict`` -> ``ParquetWriter``
  (pyarrow's defaults); ``pandas+``: the same loop writing Parquet as ``shipyard score`` does (no
  dictionary encoding of float columns, which costs most of the plain loop's time), so that the
  rest of the work compares alone;
* ``mlflow``: the same loop with ``mlflow.pyfunc.load_model(...).predict``, run by the Python of
  ``/work/bench-venvs/mlflow`` (skipped when it is missing);
* ``ray-1`` / ``ray-2``: ``engine="ray"`` on ``ray.init(num_cpus=N)`` with N actors.

Memory: ``local`` also runs at rows / 4, so peak RSS at two sizes shows whether it stays flat.
Serve: ``shipyard serve --backend ray`` with 1 then 2 replicas on ``ray.init(num_cpus=2)``, 8
concurrent clients posting 1-row requests for ``--serve-seconds``: requests/s.

    python bench/score.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = [f"f{i:02d}" for i in range(30)]
MLFLOW_PYTHON = Path("/work/bench-venvs/mlflow/bin/python")


def make_data(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    writer = None
    done = 0
    while done < rows:
        n = min(250_000, rows - done)
        table = pa.table({c: rng.normal(size=n) for c in COLUMNS})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        done += n
    assert writer is not None
    writer.close()


def train(home: Path, work: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from shipyard.interfaces.sdk import Client

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(50_000, 30)), columns=COLUMNS)
    y = (X["f00"] + X["f01"] * X["f02"] > 0).astype(int)
    models = {
        "lr": LogisticRegression(max_iter=500).fit(X, y),
        "rf": RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0).fit(X, y),
    }
    with Client(home=home) as client:
        for name, model in models.items():
            client.log_model(model, name=name, X_sample=X.head(2000), y_sample=y.head(2000))
            _save_mlflow(model, work / f"mlflow-{name}")


def _save_mlflow(model: Any, target: Path) -> None:
    """Hand the fitted model to the mlflow venv (same scikit-learn major) as a pickle."""
    import pickle

    (target.parent / f"{target.name}.pkl").write_bytes(pickle.dumps(model))


def child(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    data, out, home = Path(args.data), Path(args.out), Path(args.home)
    started = time.perf_counter()
    if mode.startswith(("local", "ray")):
        from shipyard.app import build
        from shipyard.core.config import Settings
        from shipyard.serving.scoring import ScoreOptions

        if mode.startswith("ray"):
            import ray

            ray.init(num_cpus=int(mode.split("-")[1]), include_dashboard=False, log_to_driver=False)
        svc = build(Settings(home=home))
        started = time.perf_counter()
        svc.batch_scoring().score(
            f"{args.model}/1",
            [str(data)],
            str(out),
            ScoreOptions(batch_size=args.batch_size),
            engine="ray" if mode.startswith("ray") else "local",
            log=mode == "local+log",
            ray_workers=int(mode.split("-")[1]) if mode.startswith("ray") else None,
        )
    elif mode.startswith("pandas"):
        from shipyard.interfaces.sdk import Client

        model = Client(home=home).load_model(f"{args.model}/1").predictor
        started = time.perf_counter()
        _loop(data, out, lambda frame: model.predict(frame), args.batch_size, mode == "pandas+")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _loop(data: Path, out: Path, predict: Any, batch_size: int, same_writer: bool = False) -> None:
    """The plain loop; ``same_writer``: Parquet written as ``shipyard score`` writes it (no
    dictionary encoding of float columns), to compare the rest of the work alone."""
    from shipyard.serving.scoring.tables import dictionary_columns

    writer = None
    for batch in pq.ParquetFile(data).iter_batches(batch_size=batch_size):
        frame = batch.to_pandas()
        frame["prediction"] = predict(frame)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        options = {"use_dictionary": dictionary_columns(table.schema)} if same_writer else {}
        writer = writer or pq.ParquetWriter(out, table.schema, **options)
        writer.write_table(table)
    if writer is not None:
        writer.close()


MLFLOW_CHILD = """
import pickle, resource, sys, time, mlflow.pyfunc, mlflow.sklearn
import pyarrow as pa, pyarrow.parquet as pq
pkl, data, out, batch, target = sys.argv[1:6]
model = pickle.load(open(pkl, "rb"))
mlflow.sklearn.save_model(model, target)
pyfunc = mlflow.pyfunc.load_model(target)
started = time.perf_counter()
writer = None
for b in pq.ParquetFile(data).iter_batches(batch_size=int(batch)):
    frame = b.to_pandas()
    frame["prediction"] = pyfunc.predict(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    writer = writer or pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
writer.close()
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def run_child(mode: str, model: str, data: Path, work: Path, batch_size: int) -> dict[str, Any]:
    out = work / f"out-{mode}-{model}.parquet"
    if mode == "mlflow":
        if not MLFLOW_PYTHON.exists():
            return {"skipped": "no mlflow venv"}
        target = work / f"mlflow-{model}"
        shutil.rmtree(target, ignore_errors=True)
        run = subprocess.run(
            [str(MLFLOW_PYTHON), "-c", MLFLOW_CHILD, str(work / f"mlflow-{model}.pkl"),
             str(data), str(out), str(batch_size), str(target)],
            capture_output=True, text=True, timeout=7200,
        )  # fmt: skip
        if run.returncode != 0:
            return {"skipped": run.stderr.strip().splitlines()[-1][:200]}
        seconds, rss = map(float, run.stdout.split()[-2:])
        result: dict[str, Any] = {"seconds": seconds, "peak_rss_mb": rss}
    else:
        run = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--model", model, "--data", str(data),
             "--out", str(out), "--home", str(work / "home"), "--batch-size", str(batch_size)],
            capture_output=True, text=True, timeout=7200,
        )  # fmt: skip
        if run.returncode != 0:
            return {"failed": run.stderr.strip()[-500:]}
        result = json.loads(run.stdout.strip().splitlines()[-1])
    result["rows"] = pq.ParquetFile(out).metadata.num_rows
    out.unlink(missing_ok=True)
    return result


def _client(url: str, row: list[dict[str, float]], stop: threading.Event, count: list[int]) -> None:
    import httpx

    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            count[0 if http.post(url, json=row).status_code == 200 else 1] += 1


def serve_throughput(home: Path, seconds: float) -> dict[int, float]:
    import ray
    from ray import serve

    from shipyard.interfaces.http import ray_serve
    from shipyard.interfaces.http.config import ServeConfig, endpoint_from_arg

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rates = {}
    row = [{c: 0.1 for c in COLUMNS}]
    try:
        for replicas in (1, 2):
            port = 8700 + replicas
            config = ServeConfig(endpoints=[endpoint_from_arg("lr/1")], controller=False)
            ray_serve.deploy(
                config,
                {"SHIPYARD_HOME": str(home), "SHIPYARD_LOG_FLUSH_INTERVAL": "1"},
                ray_serve.RayServeOptions(replicas=replicas),
                host="127.0.0.1",
                port=port,
            )
            url = f"http://127.0.0.1:{port}/v1/models/lr/predict"
            count = [0, 0]  # answered 200, other
            stop = threading.Event()
            threads = [
                threading.Thread(target=_client, args=(url, row, stop, count)) for _ in range(8)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop.set()
            for t in threads:
                t.join()
            rates[replicas] = count[0] / (time.perf_counter() - started)
            serve.shutdown()
    finally:
        ray.shutdown()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--serve-seconds", type=float, default=20.0)
    parser.add_argument("--skip", default="", help="comma-separated modes to skip")
    parser.add_argument("--child")
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--out")
    parser.add_argument("--home")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-score-"))
    try:
        os.environ["SHIPYARD_HOME"] = str(work / "home")
        data, quarter = work / "data.parquet", work / "quarter.parquet"
        make_data(data, args.rows)
        make_data(quarter, args.rows // 4)
        train(work / "home", work)
        print(f"{args.rows:,} rows x 30 columns, batch {args.batch_size:,}, {os.cpu_count()} CPUs")
        print(f"{'model':5} {'mode':10} {'rows':>11} {'seconds':>8} {'rows/s':>11} {'peak MB':>8}")
        results: dict[tuple[str, str], dict[str, Any]] = {}
        modes = ["pandas", "pandas+", "local", "local+log", "mlflow", "ray-1", "ray-2"]
        for model in ("lr", "rf"):
            for mode in [m for m in modes if m not in skip]:
                r = run_child(mode, model, data, work, args.batch_size)
                results[(model, mode)] = r
                if "seconds" in r:
                    print(
                        f"{model:5} {mode:10} {r['rows']:>11,} {r['seconds']:>8.1f} "
                        f"{r['rows'] / r['seconds']:>11,.0f} {r['peak_rss_mb']:>8.0f}",
                        flush=True,
                    )
                else:
                    print(f"{model:5} {mode:10} {r}", flush=True)
            if "local" not in skip:
                r = run_child("local", model, quarter, work, args.batch_size)
                print(f"{model:5} local@1/4  {r['rows']:>11,} {r['seconds']:>8.1f} "
                      f"{r['rows'] / r['seconds']:>11,.0f} {r['peak_rss_mb']:>8.0f}", flush=True)  # fmt: skip

        def rate(model: str, mode: str) -> float | None:
            r = results.get((model, mode), {})
            return r["rows"] / r["seconds"] if "seconds" in r else None

        for model in ("lr", "rf"):
            local, pandas_ = rate(model, "local"), rate(model, "pandas")
            r1, r2 = rate(model, "ray-1"), rate(model, "ray-2")
            if local and pandas_:
                print(f"{model}: local / pandas loop = {local / pandas_:.2f} (goal >= 0.9)")
            same = rate(model, "pandas+")
            if local and same:
                print(
                    f"{model}: local / pandas loop with shipyard's Parquet writer = {local / same:.2f}"
                )
            if r1 and r2:
                print(f"{model}: ray 2 CPUs / 1 CPU = {r2 / r1:.2f} (goal >= 1.7)")
        if "serve" not in skip:
            rates = serve_throughput(work / "home", args.serve_seconds)
            print(
                f"Ray Serve, 8 clients, 1-row requests: 1 replica {rates[1]:,.0f} req/s, "
                f"2 replicas {rates[2]:,.0f} req/s ({rates[2] / rates[1]:.2f}x)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
