"""``serve --backend ray``: our ASGI app as the Ray Serve ingress on a local Ray cluster (2 CPUs)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.interfaces.http.config import ServeConfig, endpoint_from_arg
from shipyard.interfaces.sdk import Client

from .conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ray_serve_url(
    ray_cluster: Any, model_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    from ray import serve

    from shipyard.interfaces.http import ray_serve

    home = tmp_path_factory.mktemp("ray-serve") / "home"
    shutil.copytree(model_home, home, ignore=shutil.ignore_patterns("logs"))
    config = ServeConfig(
        endpoints=[endpoint_from_arg(r) for r in ("cancer@champion", "thresh@champion")],
        poll_interval=0.2,
        controller=False,
    )
    port = free_port()
    # the fake models of shipyard.testing are python-flavor packages whose code is ours: trusted
    env = {"SHIPYARD_HOME": str(home), "SHIPYARD_ALLOW_CODE": "1"}
    ray_serve.deploy(
        config, env, ray_serve.RayServeOptions(replicas=2), host="127.0.0.1", port=port
    )
    url = f"http://127.0.0.1:{port}"
    # serve.run returns once every replica is constructed, i.e. has loaded its models
    ready = [httpx.get(f"{url}/v2/health/ready", timeout=10).status_code for _ in range(10)]
    assert ready == [200] * 10
    yield url, home
    serve.shutdown()


def test_v2_and_tritonclient_through_the_ray_ingress(
    ray_serve_url: tuple[str, Path],
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: Any,
) -> None:
    import tritonclient.http as triton

    url, _ = ray_serve_url
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_ready() and client.is_model_ready("cancer")
    X, _ = cancer
    batch = X.head(16).to_numpy().astype(np.float32)
    for binary in (True, False):
        inp = triton.InferInput("input-0", list(batch.shape), "FP32")
        inp.set_data_from_numpy(batch, binary_data=binary)
        out = triton.InferRequestedOutput("prediction", binary_data=binary)
        result = client.infer("cancer", [inp], outputs=[out], request_id="ray-1")
        np.testing.assert_array_equal(
            result.as_numpy("prediction"), cancer_model.predict(X.head(16).astype(np.float32))
        )
        assert result.get_response()["id"] == "ray-1"
    bad = httpx.post(f"{url}/v1/models/cancer/predict", json=[{"nope": 1}], timeout=10)
    assert bad.status_code == 400 and "error" in bad.json()


def test_each_endpoint_is_a_deployment_and_the_ingress_merges_what_spans_them(
    ray_serve_url: tuple[str, Path],
) -> None:
    from ray import serve

    url, _ = ray_serve_url
    deployments = serve.status().applications["shipyard"].deployments
    assert set(deployments) == {"shipyard", "shipyard-cancer", "shipyard-thresh"}
    for name in ("shipyard-cancer", "shipyard-thresh"):
        assert deployments[name].replica_states.get("RUNNING") == 2
    with httpx.Client(base_url=url, timeout=30) as http:
        paths = http.get("/openapi.json").json()["paths"]
        assert "/v1/models/cancer/predict" in paths and "/v1/models/thresh/predict" in paths
        assert "/invocations" not in paths  # two endpoints: each has its own
        status = http.get("/api/status").json()
        assert status["ready"] and {e["name"] for e in status["endpoints"]} == {"cancer", "thresh"}
        several = http.post("/invocations", json={"inputs": [[1.0]]})
        assert several.status_code == 400 and "one of: cancer, thresh" in several.json()["message"]
        named = http.post("/endpoints/thresh/invocations", json={"dataframe_records": [{"x": 2}]})
        assert named.status_code == 200 and named.json() == {"predictions": [1]}
        unknown = http.post("/v1/models/nope/predict", json=[{"x": 1.0}])
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
        assert http.get("/v2/health/ready").status_code == 200


def test_alias_move_under_load_across_two_replicas_fails_nothing(
    ray_serve_url: tuple[str, Path],
) -> None:
    url, home = ray_serve_url
    stop = threading.Event()
    seen: list[tuple[float, int, str]] = []

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                try:
                    resp = http.post("/v1/models/thresh/predict", json=[{"x": 1.0}])
                    seen.append(
                        (
                            time.monotonic(),
                            resp.status_code,
                            resp.headers.get("x-model-version", ""),
                        )
                    )
                except httpx.HTTPError as exc:
                    seen.append((time.monotonic(), 0, type(exc).__name__))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        with Client(home=home) as client:
            client.set_alias("thresh", "champion", 2, reason="ray swap")
        moved = time.monotonic()
        deadline = moved + 60
        while time.monotonic() < deadline:  # both replicas follow: only version 2 for a while
            recent = [v for t, _, v in seen[-40:] if t > moved]
            if len(recent) >= 40 and set(recent) == {"2"}:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    failures = [s for s in seen if s[1] != 200]
    assert not failures, failures[:5]
    versions = [v for _, _, v in seen]
    assert "1" in versions and versions[-40:] == ["2"] * 40


def _replicas(ray: Any, deployment: str) -> list[dict[str, str]]:
    prefix = f"SERVE_REPLICA::shipyard#{deployment}#"
    return [
        a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(prefix)
    ]


def test_a_replica_killed_under_load_is_replaced_and_loses_nothing_silently(
    ray_serve_url: tuple[str, Path], ray_cluster: Any
) -> None:
    import ray

    url, _ = ray_serve_url
    replicas = _replicas(ray, "shipyard-thresh")
    assert len(replicas) == 2
    stop = threading.Event()
    seen: list[tuple[int, str, str | None]] = []

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                try:
                    resp = http.post("/v1/models/thresh/predict", json=[{"x": 1.0}])
                    seen.append(
                        (resp.status_code, resp.text[:200], resp.headers.get("retry-after"))
                    )
                except httpx.HTTPError as exc:
                    seen.append((0, type(exc).__name__, None))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = replicas[0]
        ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
        killed_at = len(seen)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a new replica replaces it
            names = {a["name"] for a in _replicas(ray, "shipyard-thresh")}
            if len(names) == 2 and victim["name"] not in names:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the killed replica was not replaced within 120 s")
        after = len(seen)
        while len(seen) < after + 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert killed_at < after
    assert all(code == 200 for code, _, _ in seen[after:]), "not healthy after the replacement"
    # in flight on the killed replica: retried on the other one (200), or a clean 503
    unclean = [s for s in seen if s[0] != 200 and not (s[0] == 503 and s[2] == "1")]
    assert not unclean, unclean[:5]


def test_autoscaling_is_applied_per_endpoint(
    ray_serve_url: tuple[str, Path], ray_cluster: Any
) -> None:
    """Deploys the application again (last in this module) with ``--autoscale 1,2`` and reads
    the configuration back from Ray Serve."""
    from ray import serve
    from ray.serve.context import _get_global_client

    from shipyard.interfaces.http import ray_serve

    url, home = ray_serve_url
    config = ServeConfig(endpoints=[endpoint_from_arg("thresh@champion")], controller=False)
    options = ray_serve.RayServeOptions(autoscale=(1, 2), target_ongoing_requests=3)
    port = int(url.rsplit(":", 1)[1])
    env = {"SHIPYARD_HOME": str(home), "SHIPYARD_ALLOW_CODE": "1"}
    serve.delete(ray_serve.APP_NAME)  # a fresh application starts at MIN replicas
    ray_serve.deploy(config, env, options, host="127.0.0.1", port=port)  # returns once running
    app = serve.status().applications[ray_serve.APP_NAME]
    assert set(app.deployments) == {"shipyard", "shipyard-thresh"}
    details = _get_global_client().get_serve_details()["applications"][ray_serve.APP_NAME]
    for name in ("shipyard", "shipyard-thresh"):
        deployment = details["deployments"][name]
        scaling = deployment["deployment_config"]["autoscaling_config"]
        assert (scaling["min_replicas"], scaling["max_replicas"]) == (1, 2)
        assert scaling["target_ongoing_requests"] == 3
        assert deployment["target_num_replicas"] == 1
        assert app.deployments[name].replica_states.get("RUNNING") == 1
    resp = httpx.post(f"{url}/v1/models/thresh/predict", json=[{"x": 1.0}], timeout=30)
    assert resp.status_code == 200
