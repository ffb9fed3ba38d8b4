"""``shipyard build`` and ``shipyard k8s``: linted Dockerfile, schema-valid manifests, a venv that serves."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from shipyard.interfaces.sdk import Client

WORKTREE = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def home(tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: Any) -> Path:
    X, y = cancer
    home = tmp_path / "home"
    with Client(home=home) as client:
        client.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
        client.set_alias("cancer", "champion", 1)
    return home


def shipyard(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard.interfaces.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def context(home: Path, tmp_path: Path) -> Path:
    out = tmp_path / "ctx"
    run = shipyard(home, "build", "cancer@champion", "-o", str(out), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["image"] == "shipyard-cancer:1"
    return out


def test_build_context_is_complete_and_hadolint_clean(context: Path) -> None:
    assert sorted(p.name for p in context.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "entrypoint.sh",
        "model",
        "requirements.txt",
    ]
    assert (context / "model" / "shipyard.yaml").exists()
    requirements = (context / "requirements.txt").read_text().splitlines()[1:]
    assert requirements and all("==" in line for line in requirements)
    assert any(line.startswith("scikit-learn==") for line in requirements)
    dockerfile = (context / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "USER 10001" in dockerfile
    lint = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(context / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_build_refuses_a_non_empty_directory(home: Path, context: Path) -> None:
    run = shipyard(home, "build", "cancer@champion", "-o", str(context))
    assert run.returncode != 0 and "not empty" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("ray", [False, True])
def test_k8s_manifests_validate_against_the_schemas(home: Path, tmp_path: Path, ray: bool) -> None:
    args = ["k8s", "cancer@champion", "--replicas", "3", *(["--ray"] if ray else [])]
    run = shipyard(home, *args)
    assert run.returncode == 0, run.stderr
    docs = list(yaml.safe_load_all(run.stdout))
    kinds = [d["kind"] for d in docs]
    assert kinds == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        *(["RayService"] if ray else []),
    ]
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    token = container["env"][0]
    assert (
        token["name"] == "SHIPYARD_TOKEN" and token["valueFrom"]["secretKeyRef"]["key"] == "token"
    )
    assert docs[2]["spec"]["minReplicas"] == 3
    core = tmp_path / "core.yaml"
    core.write_text(yaml.safe_dump_all(docs[:4]))
    check = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", str(core)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(" passed for resource ") == 4, check.stdout
    if ray:
        ray_service = docs[4]
        assert ray_service["apiVersion"] == "ray.io/v1"
        app = yaml.safe_load(ray_service["spec"]["serveConfigV2"])["applications"][0]
        assert app["import_path"] == "shipyard.interfaces.http.ray_serve:app_from_env"
        head = ray_service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
        assert head["containers"][0]["env"][0]["name"] == "SHIPYARD_TOKEN"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_build_context_serves_from_a_fresh_venv(context: Path, tmp_path: Path) -> None:
    """What the image does, without Docker: install the requirements + Shipyard, run the entrypoint."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    install = subprocess.run(
        [*pip, "-r", str(context / "requirements.txt"), str(WORKTREE)],
        capture_output=True,
        text=True,
        timeout=780,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    port = _free_port()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "SHIPYARD_HOME": str(tmp_path / "container-home"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    server = subprocess.Popen(
        ["sh", str(context / "entrypoint.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready:
                break
            time.sleep(0.2)
        assert ready, server.stderr.read() if server.poll() is not None and server.stderr else ""
        row = json.loads((context / "model" / "input_example.json").read_text())
        answer = httpx.post(f"{url}/invocations", json={"dataframe_records": row}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == len(row)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
        shutil.rmtree(venv, ignore_errors=True)
