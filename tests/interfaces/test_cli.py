"""The CLI end to end in-process (through the real entry point), plus a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard import package
from shipyard.registry.access import os_user
from tests.interfaces.conftest import Cli


@pytest.fixture
def pkg(tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object) -> Path:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="cancer", X_sample=X)
    return tmp_path / "pkg"


def test_register_alias_show_history_audit(
    cli: Cli, pkg: Path, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    v1 = cli.json("register", str(pkg))
    assert v1["name"] == "cancer" and v1["version"] == 1  # type: ignore[index]
    v2 = cli.json("register", str(pkg), "--name", "cancer", "--tag", "stage=dev")
    assert v2["version"] == 2 and v2["tags"] == {"stage": "dev"}  # type: ignore[index]
    code, out, _ = cli("alias", "set", "cancer", "champion", "1", "--reason", "first")
    assert code == 0 and "-> 1" in out
    code, out, _ = cli("alias", "set", "cancer", "champion", "2")
    assert code == 0 and "1 -> 2" in out
    history = cli.json("alias", "history", "cancer", "champion")
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in history] == [  # type: ignore[union-attr]
        (None, 1, "first"),
        (1, 2, ""),
    ]
    assert cli.json("alias", "show", "cancer", "champion")["version"] == 2  # type: ignore[index]
    assert cli.json("alias", "show", "cancer", "champion", "--at", "1h")["version"] is None  # type: ignore[index]
    models = cli.json("models", "list")
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in models] == [  # type: ignore[union-attr]
        ("cancer", 2, {"champion": 2})
    ]
    shown = cli.json("versions", "show", "cancer", "1")
    assert shown["manifest"]["flavor"]["name"] == "sklearn"  # type: ignore[index]
    assert [v["version"] for v in cli.json("versions", "list", "--tag", "stage=dev")] == [2]  # type: ignore[union-attr]
    code, _, _ = cli("tag", "set", "cancer", "owner", "ana")
    assert code == 0 and cli.json("models", "show", "cancer")["model"]["tags"] == {"owner": "ana"}  # type: ignore[index]
    audit = cli.json("audit", "--target", "cancer")
    assert [e["action"] for e in audit][:3] == ["tag.set", "alias.set", "alias.set"]  # type: ignore[union-attr]
    assert all(e["actor"] == os_user() for e in audit)  # type: ignore[union-attr]
    code, _, _ = cli("--actor", "ci-bot", "alias", "delete", "cancer", "champion")
    assert code == 2  # self-asserted names are gone: the local CLI acts as the OS user
    code, _, _ = cli("alias", "delete", "cancer", "champion")
    assert code == 0 and cli.json("audit", "--limit", "1")[0]["actor"] == os_user()  # type: ignore[index]
    verified = cli.json("audit", "verify")
    assert verified["ok"] and verified["checked"] == verified["head_id"]  # type: ignore[index]
    X, _ = cancer
    X.head(3).to_csv(tmp_path / "rows.csv", index=False)
    result = cli.json("predict", "cancer/2", "-i", str(tmp_path / "rows.csv"), "--proba")
    assert len(result["predictions"]) == 3 and result["classes"] == [0, 1]  # type: ignore[index]
    code, out, _ = cli("models", "list")
    assert code == 0 and "cancer" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["alias", "set", "ghost", "champion", "1"], 3, "error: model 'ghost' does not exist"),
        (["versions", "show", "cancer", "9"], 3, "error: model 'cancer' has no version 9"),
        (["alias", "set", "cancer", "latest", "1"], 2, "'latest' is reserved"),
        (
            ["alias", "show", "cancer", "x", "--at", "yesterday"],
            2,
            "--at: expected an ISO time (2026-01-31T12:00:00) or a duration ago such as 30s, "
            "15m, 1h, 2d, got 'yesterday'",
        ),
        (["versions", "list", "--tag", "novalue"], 2, "--tag 'novalue': expected KEY=VALUE"),
        (["predict", "cancer@", "-i", "x.csv"], 3, "input file x.csv does not exist"),
        (["register", "/nonexistent"], 3, "/nonexistent is not a Shipyard package"),
    ],
)
def test_errors_are_one_line_with_exit_codes(
    cli: Cli, pkg: Path, args: list[str], code: int, message: str
) -> None:
    assert cli("register", str(pkg))[0] == 0
    got, _, err = cli(*args)
    assert got == code
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_deleting_aliased_version_is_refused(cli: Cli, pkg: Path) -> None:
    cli("register", str(pkg))
    cli("alias", "set", "cancer", "champion", "1")
    code, _, err = cli("versions", "delete", "cancer", "1")
    assert code == 4 and "alias @champion points to it" in err
    cli("alias", "delete", "cancer", "champion")
    assert cli("versions", "delete", "cancer", "1")[0] == 0
    assert cli("models", "delete", "cancer", "--yes")[0] == 0
    assert cli.json("models", "list") == []


def test_corrupted_artifact_is_an_integrity_error(cli: Cli, pkg: Path, tmp_path: Path) -> None:
    cli("register", str(pkg))
    blobs = sorted((tmp_path / "home" / "artifacts").rglob("*"), key=lambda p: p.stat().st_size)
    biggest = [p for p in blobs if p.is_file()][-1]
    data = bytearray(biggest.read_bytes())
    data[100] ^= 0xFF
    biggest.write_bytes(bytes(data))
    (tmp_path / "rows.json").write_text('[{"a": 1}]')
    code, _, err = cli("predict", "cancer/1", "-i", str(tmp_path / "rows.json"))
    assert code == 5 and "corrupted" in err


def test_db_check_and_upgrade(cli: Cli) -> None:
    code, _, _ = cli("db", "check")
    assert code == 1  # empty database: migrations pending
    from shipyard.registry.sql.schema import head_revision

    code, out, _ = cli("db", "upgrade")
    assert code == 0 and head_revision() in out
    assert cli.json("db", "check")["up_to_date"] is True  # type: ignore[index]


def test_real_process_help_is_light_and_errors_have_no_traceback(tmp_path: Path) -> None:
    """Fast by construction, whatever the machine's load (bench/cli.py measures the time): --help
    loads no numerics, query engine, model framework or server."""
    heavy = ("numpy", "pandas", "scipy", "sklearn", "torch", "duckdb", "uvicorn", "ray")
    probe = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print('HEAVY:', sorted(m for m in {heavy!r} "
        "if m in sys.modules)))\n"
        "sys.argv = ['shipyard', '--help']\n"
        "from shipyard.interfaces.cli.main import run\n"
        "run()\n"
    )
    help_run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=600
    )
    assert help_run.returncode == 0 and "alias" in help_run.stdout
    assert help_run.stdout.strip().splitlines()[-1] == "HEAVY: []"
    exe = [sys.executable, "-m", "shipyard.interfaces.cli.main"]
    bad = subprocess.run(
        [*exe, "--home", str(tmp_path), "alias", "set", "m", "a", "1"],
        capture_output=True,
        text=True,
        timeout=600,  # a deadline, not a stopwatch: busy machines are slow
    )
    assert bad.returncode == 3 and "model 'm' does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr
    imports = subprocess.run(
        [
            sys.executable,
            "-c",
            "import shipyard, sys; print(sorted(m for m in "
            "('pandas','sqlalchemy','sklearn','numpy') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=600,  # a deadline, not a stopwatch: busy machines are slow
    )
    assert imports.stdout.strip() == "[]"  # import shipyard loads nothing heavy


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_predict_writes_a_file_in_the_format_of_its_suffix(
    cli: Cli, pkg: Path, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], suffix: str
) -> None:
    from shipyard.interfaces.cli.files import read_table

    cli("register", str(pkg))
    X, _ = cancer
    X.head(4).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / f"out{suffix}"
    summary = cli.json(
        "predict", "cancer/1", "-i", str(tmp_path / "rows.csv"), "-o", str(out), "--proba"
    )
    assert summary == {"model": "cancer/1", "rows": 4, "output": str(out.resolve())}
    written = read_table(out)
    printed = cli.json("predict", "cancer/1", "-i", str(tmp_path / "rows.csv"), "--proba")
    assert written["prediction"].tolist() == printed["predictions"]  # type: ignore[index]
    assert list(written.columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_allclose(
        written[["proba_0", "proba_1"]].to_numpy(),
        np.asarray(printed["probabilities"]),  # type: ignore[index]
        rtol=1e-9,
    )
