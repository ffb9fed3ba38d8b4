"""Loading and predicting with a scikit-learn package never imports torch (fresh interpreters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shipyard.interfaces.sdk import Client

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run(code: str, home: Path | None = None) -> dict[str, object]:
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}
    if home is not None:
        env["SHIPYARD_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_sklearn_package_loads_and_predicts_without_torch(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    pytest.importorskip("torch")  # otherwise the check below proves nothing
    home = tmp_path / "home"
    X, y = cancer
    with Client(home=home) as client:
        client.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
    rows = X.head(3).to_dict("records")
    out = _run(
        "import json, sys\n"
        "import pandas as pd\n"
        "from shipyard.interfaces.sdk import Client\n"
        "with Client() as c:\n"
        "    model = c.load_model('models:/cancer/1')\n"
        f"    preds = model.predict(pd.DataFrame({rows!r})).tolist()\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'skops': 'skops.io' in sys.modules,"
        " 'preds': preds}))",
        home,
    )
    assert out["skops"] is True, "the package was not loaded with skops"
    assert out["preds"] == cancer_model.predict(X.head(3)).tolist()  # type: ignore[attr-defined]
    assert out["torch"] is False, "loading an sklearn package imported torch"


@pytest.mark.slow
def test_skops_trusts_the_same_estimators_as_a_plain_import() -> None:
    """The walk that skips torch finds exactly the estimators skops finds on its own."""
    pytest.importorskip("skops")
    listing = (
        "import json, sys\n"
        "{imp}\n"
        "print(json.dumps({{'torch': 'torch' in sys.modules,"
        " 'names': sorted(sio._trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES)}}))"
    )
    ours = _run(
        listing.format(
            imp="from shipyard.package.flavors._skops import import_skops_io\n"
            "sio = import_skops_io()"
        )
    )
    plain = _run(listing.format(imp="import skops.io as sio"))
    assert ours["torch"] is False
    assert ours["names"] == plain["names"] and len(ours["names"]) > 100  # type: ignore[arg-type]


def test_a_serving_process_loads_skops_without_its_default_trust_list(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    """``shipyard serve`` skips skops's list of trusted estimators: the same predictions, without
    the walk over scikit-learn (nor its test helpers) that builds the list."""
    home = tmp_path / "home"
    X, y = cancer
    with Client(home=home) as client:
        client.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
    rows = X.head(3).to_dict("records")
    out = _run(
        "import json, sys\n"
        "import pandas as pd\n"
        "from shipyard.package.flavors.sklearn import skip_default_trust\n"
        "from shipyard.interfaces.sdk import Client\n"
        "skip_default_trust()\n"
        "with Client() as c:\n"
        "    model = c.load_model('models:/cancer/1')\n"
        f"    preds = model.predict(pd.DataFrame({rows!r})).tolist()\n"
        "from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES as names\n"
        "print(json.dumps({'walked': 'sklearn.utils._testing' in sys.modules,"
        " 'names': len(names), 'preds': preds}))",
        home,
    )
    assert out["preds"] == cancer_model.predict(X.head(3)).tolist()  # type: ignore[attr-defined]
    assert out["walked"] is False and out["names"] == 0
