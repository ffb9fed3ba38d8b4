"""The SDK as a user writes it: module-level log_model/load_model and Client."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.interfaces import sdk


@pytest.fixture(autouse=True)
def fresh_default_client() -> None:
    sdk._default = None


def test_log_and_load_through_module_functions(
    cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object, tmp_path: Path
) -> None:
    X, y = cancer
    mv = shipyard.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y, description="lr")
    assert isinstance(mv, shipyard.ModelVersion) and (mv.name, mv.version) == ("cancer", 1)
    assert (tmp_path / "home" / "registry.db").exists()  # SHIPYARD_HOME honoured
    model = shipyard.load_model("models:/cancer@latest")
    assert isinstance(model, shipyard.Model)
    np.testing.assert_array_equal(model.predict(X), cancer_model.predict(X))  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        model.predict_proba(X.to_dict("records")), cancer_model.predict_proba(X)
    )  # type: ignore[attr-defined]


def test_client_on_an_explicit_home(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    with shipyard.Client(home=tmp_path / "elsewhere") as client:
        v = client.log_model(cancer_model, name="c", X_sample=X)
        client.set_alias("c", "champion", v.version)
        assert client.resolve("c@champion").digest == v.digest
        assert client.get_model("c").aliases == {"champion": 1}
    assert (tmp_path / "elsewhere" / "registry.db").exists()


def test_bad_input_to_a_loaded_model_is_precise(
    cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    shipyard.log_model(cancer_model, name="cancer", X_sample=X)
    model = shipyard.load_model("cancer/1")
    with pytest.raises(
        shipyard.ShipyardError, match="missing column 'mean radius' \\(expected float64\\)"
    ):
        model.predict(X.drop(columns=["mean radius"]))


def test_deployments_rollouts_and_feedback_from_the_sdk(tmp_path: Path) -> None:
    from shipyard.testing import ThresholdModel

    frame = pd.DataFrame({"x": [0.0, 1.0]})
    with shipyard.Client(home=tmp_path / "h") as client:
        for t in (0.0, 0.5):
            client.log_model(ThresholdModel("x", t), name="m", X_sample=frame)
        client.set_alias("m", "champion", 1)
        d = client.deploy("ab", {"m/1": 70, "m/2": 30}, sticky=("header", "x-user"))
        assert d.revision == 1 and d.spec.sticky is not None
        assert client.deploy("ab", {"m/1": 50, "m/2": 50}).revision == 2
        record = client.start_rollout("m", 2, steps=(50.0, 100.0), interval=5)
        assert record.status == "running"
        assert client.rollout_status("m").state.candidate == "m/2"
        result = client.feedback({"no-such-request": 1})
        assert result["unknown_ids"] == ["no-such-request"] and result["accepted"] == 0
