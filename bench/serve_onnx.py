"""The same model served in scikit-learn and in ONNX form, in one run.

A 100-tree RandomForestClassifier and a StandardScaler + LogisticRegression pipeline are fitted on
scikit-learn's breast-cancer data (30 float columns), logged, and converted with
``shipyard convert NAME/1 --to onnx`` (``convert_version``), which registers version 2 only if it
predicts like version 1 on the reference rows. Then:

1. **in process** -- ``LoadedVersion.predict`` (what an endpoint calls after validation), with
   probabilities, on 1 row and on 1 000 rows: median of ``--repeat`` calls;
2. **served** -- one ``shipyard serve`` with four endpoints (``rf``/``rf-onnx``/``lr``/``lr-onnx``,
   pinned to versions 1 and 2), ``--no-log --no-controller``; a closed loop of ``--requests``
   sequential one-row requests per endpoint on one keep-alive httpx connection (concurrency 1):
   p50/p99 latency and requests per second.

    PYTHONPATH=src python bench/serve_onnx.py                  # ~1 min
    PYTHONPATH=src python bench/serve_onnx.py --requests 200   # quicker
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def median_ms(fn: Any, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.interfaces.sdk import Client
    from shipyard.registry.conversion import convert_version
    from shipyard.registry.entities import ModelVersion
    from shipyard.serving.runtime import LoadedVersion

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    many = X.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    fitted = {
        "rf": RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(X, y),
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
    }
    home = Path(tempfile.mkdtemp(prefix="shipyard-bench-onnx-"))
    table: list[tuple[str, ...]] = []
    with Client(home=home) as client:
        for name, model in fitted.items():
            client.log_model(model, name=name, X_sample=X, y_sample=y)
            result = convert_version(client.registry, f"{name}/1", to="onnx")
            print(
                f"{name}: converted to {result.version.ref}, largest probability difference "
                f"{result.max_difference:.1e} on {result.rows} reference rows"
            )
            for number in (1, 2):
                mv: ModelVersion = client.registry.get_version(name, number)
                loaded = LoadedVersion(mv, client.registry.load_version(mv), 0.0)
                one = loaded.model.validate(X.head(1))
                batch = loaded.model.validate(many)
                t1 = median_ms(lambda lv=loaded, d=one: lv.predict(d, True), args.repeat)
                tn = median_ms(lambda lv=loaded, d=batch: lv.predict(d, True), args.repeat)
                table.append((name, loaded.model.flavor, f"{t1:.3f}", f"{tn:.2f}"))
    print("\nin process: LoadedVersion.predict with probabilities, median ms")
    print("| model | form | 1 row | 1000 rows |\n|---|---|---:|---:|")
    for row in table:
        print("| " + " | ".join(row) + " |")

    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    cmd = [sys.executable, "-m", "shipyard.interfaces.cli.main", "serve",
           "rf=rf/1", "rf-onnx=rf/2", "lr=lr/1", "lr-onnx=lr/2",
           "--port", str(port), "--no-log", "--no-controller"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.1)
        rows = X.head(64).to_dict(orient="records")
        print(f"\nserved: {args.requests} sequential one-row requests per endpoint (c=1)")
        print("| endpoint | p50 ms | p99 ms | req/s |\n|---|---:|---:|---:|")
        with httpx.Client(base_url=url, timeout=30) as http:
            for endpoint in ("rf", "rf-onnx", "lr", "lr-onnx"):
                path = f"/v1/models/{endpoint}/predict?probabilities=false"
                for row in rows[:20]:  # warm-up
                    http.post(path, json={"records": [row]}).raise_for_status()
                latencies = []
                start = time.perf_counter()
                for i in range(args.requests):
                    t0 = time.perf_counter()
                    http.post(path, json={"records": [rows[i % 64]]}).raise_for_status()
                    latencies.append(time.perf_counter() - t0)
                elapsed = time.perf_counter() - start
                p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
                print(f"| {endpoint} | {p50:.2f} | {p99:.2f} | {args.requests / elapsed:.0f} |")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
