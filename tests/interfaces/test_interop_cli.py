"""``shipyard import mlflow`` and ``shipyard convert`` on the command line: one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interfaces.test_cli import Cli

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mlflow_models"

pytest.importorskip("skl2onnx")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(capsys, monkeypatch)


def test_import_then_convert(cli: Cli) -> None:
    doc = cli.json("import", "mlflow", str(FIXTURES / "sklearn_skops"), "--name", "churn")
    assert doc == {"name": "churn", "version": 1, "flavor": "sklearn"}
    code, _, err = cli("import", "mlflow", str(FIXTURES / "sklearn_cloudpickle"), "--name", "c")
    assert code != 0 and "--allow-pickle" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    converted = cli.json("convert", "churn/1", "--to", "onnx")
    assert isinstance(converted, dict)
    assert (converted["version"], converted["parent"]) == (2, "churn/1")
    assert converted["max_probability_difference"] <= 1e-5
    code, _, err = cli("convert", "churn/2", "--to", "onnx")  # ONNX is not converted again
    assert code != 0 and "this one is onnx" in err


def test_import_a_registered_model_from_a_local_tracking_store(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.package.test_mlflow_stores import STORES, _sqlite

    monkeypatch.chdir(
        STORES / "sqlite"
    )  # its artifact locations are relative, as MLflow reads them
    tracking = _sqlite(tmp_path)
    doc = cli.json("import", "mlflow", "models:/churn@champion", "--name", "churn",
                   "--tracking-uri", tracking)  # fmt: skip
    assert doc == {"name": "churn", "version": 1, "flavor": "sklearn"}
    shown = cli.json("models", "show", "churn")
    assert isinstance(shown, dict)
    assert shown["versions"][0]["metrics"] == {"accuracy": 0.61}  # the run's, read from the store
    code, _, err = cli("import", "mlflow", "models:/churn@nobody", "--name", "churn",
                       "--tracking-uri", tracking)  # fmt: skip
    assert code != 0 and "alias churn@nobody not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
