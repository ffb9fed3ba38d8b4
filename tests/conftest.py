"""Shared fixtures: isolated environment, registries on SQLite and PostgreSQL, small real models."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from shipyard.core.config import Settings
from shipyard.registry.blobs import FsspecBlobStore
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import SqlRegistryStore

POSTGRES_URL = os.environ.get(
    "SHIPYARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's SHIPYARD_* settings; each gets its own home; bugs in the CLI
    show their traceback."""
    for key in list(os.environ):
        if key.startswith("SHIPYARD_") and key != "SHIPYARD_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    # an unexpected exception in the CLI raises with its traceback in tests (users get one line)
    monkeypatch.setenv("SHIPYARD_DEBUG", "1")
    # the fake models of shipyard.testing are python-flavor packages: their code is ours, trusted
    # here once; tests of the trust rule itself remove this (tests/package/test_trust.py)
    monkeypatch.setenv("SHIPYARD_ALLOW_CODE", "1")


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # driver missing or server down
        return repr(exc)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"PostgreSQL is required in CI but unreachable at {POSTGRES_URL}: {problem}"
            )
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {problem}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[SqlRegistryStore]:
    s = SqlRegistryStore(database_url)
    yield s
    s.close()


@pytest.fixture
def registry(store: SqlRegistryStore, tmp_path: Path) -> RegistryService:
    return RegistryService(
        store,
        FsspecBlobStore(str(tmp_path / "artifacts")),
        cache_dir=tmp_path / "cache",
        actor="tester",
        allow_code=True,  # the fake models of shipyard.testing are python-flavor: our own code
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


# -- small real models ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def cancer_model(cancer: tuple[pd.DataFrame, pd.Series]) -> object:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="session")
def mixed_frame() -> tuple[pd.DataFrame, pd.Series]:
    """Mixed numeric / categorical / nullable columns, with a learnable target."""
    import numpy as np

    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000, 15_000, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "tenure": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 10, n)),
        }
    )
    target = ((frame["age"] > 50) ^ (frame["plan"] == "pro")).astype(int)
    return frame, target


@pytest.fixture(scope="session")
def mixed_pipeline(mixed_frame: tuple[pd.DataFrame, pd.Series]) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = mixed_frame
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    return Pipeline(
        [("pre", pre), ("rf", RandomForestClassifier(n_estimators=20, random_state=0))]
    ).fit(X, y)


# -- a real S3 server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def settings(self, home: Path, bucket: str, **extra: object) -> Settings:
        """Settings whose artifacts and logs live in ``bucket`` on this server."""
        return Settings(
            home=home,
            actor="tester",
            artifacts_uri=f"s3://{bucket}/artifacts",
            logs_uri=f"s3://{bucket}/logs",
            s3_endpoint_url=self.endpoint_url,
            s3_region="us-east-1",
            s3_access_key_id="testing",
            s3_secret_access_key="testing",  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )

    def filesystem(self) -> object:
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.endpoint_url,
            key="testing",
            secret="testing",
            skip_instance_cache=True,
        )


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    exe = Path(sys.executable).parent / "moto_server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError("moto_server did not answer within 60 s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real ``moto_server`` process on a free 127.0.0.1 port (skipped where it cannot start,
    except in CI, where that is a failure)."""
    try:
        import s3fs  # noqa: F401

        process, url = _start_moto()
    except (ImportError, OSError, RuntimeError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"an S3 server is required in CI: {exc!r}")
        pytest.skip(f"moto_server unavailable: {exc!r}")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        os.environ.pop(key, None)
    yield S3Server(url)
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3_server.filesystem().mkdir(name)  # type: ignore[attr-defined]
    return name


# -- a local Ray cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """``ray.init(num_cpus=2)`` once per session, shut down at the end (skipped without Ray,
    except in CI)."""
    try:
        import ray
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Ray is required in CI: {exc!r}")
        pytest.skip(f"Ray is not installed: {exc!r}")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
