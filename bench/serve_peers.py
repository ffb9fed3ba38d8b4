"""The peers of ``bench/serve.py --with-peers``: MLflow's and BentoML's model servers, same model.

Each peer runs from a virtualenv of its own (never Shipyard's), made on first use under
``--peers-dir`` (default: ``/work/bench-venvs`` when it exists, else ``~/.cache/shipyard-bench``):
``{dir}/mlflow`` with ``mlflow==3.17.2`` and ``{dir}/bentoml`` with ``bentoml==1.4.40``, each with
the scikit-learn version of this environment (a venv that has the peer but not scikit-learn gets it
added). In that venv the peer fits the same pipeline on the same data as the benchmark
(``StandardScaler + LogisticRegression(max_iter=1000)`` on the breast-cancer data; lbfgs is
deterministic, so the coefficients are those of the bare and Shipyard servers) and saves it its own
way:

* **MLflow**: ``mlflow.sklearn.save_model`` with its defaults (3.17 writes skops, not pickle), served
  by ``mlflow models serve --env-manager local`` (uvicorn, one worker); requests go to
  ``POST /invocations`` as ``{"dataframe_records": [row]}``.
* **BentoML**: a ``@bentoml.service`` whose ``predict(records)`` API is batchable (BentoML's adaptive
  batching, ``max_batch_size=32``), holding the pickled pipeline; served by ``bentoml serve``;
  requests go to ``POST /predict`` as ``{"records": [row]}``, the body Shipyard's native route takes.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PINS = {"mlflow": "mlflow==3.17.2", "bentoml": "bentoml==1.4.40"}
DEFAULT_DIRS = (Path("/work/bench-venvs"), Path.home() / ".cache" / "shipyard-bench")
INSTALL_TIMEOUT_S = 1800

FIT = """
import warnings
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
"""

SAVE = {
    "mlflow": FIT
    + """
import sys
import mlflow.sklearn

mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.iloc[:2])
""",
    "bentoml": FIT
    + """
import pickle
import sys
from pathlib import Path

Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
(Path(sys.argv[1]) / "model.pkl").write_bytes(pickle.dumps(model))
""",
}

BENTO_SERVICE = '''
"""The BentoML service of bench/serve.py: the pickled pipeline behind a batchable API."""
import pickle
from pathlib import Path

import bentoml
import pandas as pd


@bentoml.service(workers=1)
class LR:
    def __init__(self) -> None:
        self.model = pickle.loads((Path(__file__).parent / "model.pkl").read_bytes())

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=1000)
    def predict(self, records: list[dict[str, float]]) -> list[int]:
        return self.model.predict(pd.DataFrame.from_records(records)).tolist()
'''


@dataclass(frozen=True)
class Peer:
    name: str
    """mlflow or bentoml."""
    label: str
    """The row label: the pinned distribution, e.g. ``mlflow 3.17.2``."""
    argv: list[str]
    """The server's command line, with ``{port}`` to fill in."""
    path: str
    """The prediction route."""
    wrap: str
    """The JSON key that holds the list of rows: ``dataframe_records`` or ``records``."""
    cwd: Path
    env: dict[str, str]


def peers_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    for candidate in DEFAULT_DIRS:
        if candidate.is_dir():
            return candidate
    return DEFAULT_DIRS[-1]


def _version(python: Path, dist: str) -> str | None:
    out = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_venv(root: Path, name: str, log: object) -> Path:
    """``{root}/{name}/bin/python`` with the peer's pin and this scikit-learn; made or completed."""
    pin = PINS[name]
    sklearn = f"scikit-learn=={importlib.metadata.version('scikit-learn')}"
    venv = root / name
    python = venv / "bin" / "python"
    missing = []
    if not python.exists():
        _say(log, f"creating the {name} virtualenv at {venv} (first use)")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        missing = [pin, sklearn, "pandas"]
    else:
        if _version(python, name) != pin.split("==")[1]:
            missing.append(pin)
        if _version(python, "scikit-learn") is None:
            missing.append(sklearn)
        if _version(python, "pandas") is None:
            missing.append("pandas")
    if missing:
        _say(log, f"installing {' '.join(missing)} into {venv}")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *missing],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    return python


def prepare(root: Path, name: str, work: Path, log: object) -> Peer:
    """The peer's venv, model and server command line (the model is written under ``work``)."""
    python = ensure_venv(root, name, log)
    bindir = python.parent
    target = work / f"peer-{name}"
    subprocess.run(
        [str(python), "-c", SAVE[name], str(target / "model" if name == "mlflow" else target)],
        check=True,
        capture_output=True,
    )
    # mlflow starts `uvicorn` by name: the venv's bin first on PATH
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    if name == "mlflow":
        version = _version(python, "mlflow")
        argv = [str(python), "-m", "mlflow", "models", "serve", "-m", str(target / "model"),
                "--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}", "-w", "1"]  # fmt: skip
        return Peer(name, f"mlflow {version}", argv, "/invocations", "dataframe_records", work, env)
    (target / "service.py").write_text(BENTO_SERVICE)
    version = _version(python, "bentoml")
    env["BENTOML_DO_NOT_TRACK"] = "true"
    argv = [str(python), "-m", "bentoml", "serve", "service:LR", "--working-dir", str(target),
            "--host", "127.0.0.1", "--port", "{port}"]  # fmt: skip
    return Peer(name, f"bentoml {version}", argv, "/predict", "records", target, env)


def _say(log: object, message: str) -> None:
    if callable(log):
        log(message)
