"""One line for every mistake: each case exits non-zero with its documented code and one line on
stderr, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer

from shipyard import package
from shipyard.interfaces.cli.errors import INTERNAL_ERROR
from shipyard.interfaces.cli.main import main
from tests.interfaces.conftest import Cli


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def pkg(tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object) -> Path:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="cancer", X_sample=X)
    return tmp_path / "pkg"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    (tmp_path / "self.yaml").write_text("monitors: &m\n  churn: *m\n")
    (tmp_path / "forever.yaml").write_text("monitors:\n  churn:\n    window: forever\n")
    (tmp_path / "a-file").write_text("not a directory")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["alias", "show", "m", "a", "--at", "999999999d"],
            2,
            "error: --at: must be at most 3660d, got '999999999d'",
        ),
        (
            ["monitor", "run", "churn", "--window", "99999999999w"],
            2,
            "error: --window: must be at most 3660d, got '99999999999w'",
        ),
        (
            ["rollout", "start", "churn", "--to", "2", "--interval", "forever"],
            2,
            "error: --interval: expected a duration such as 30s, 15m, 1h, 2d, got 'forever'",
        ),
        (
            ["--project", "{files}/binary.yaml", "retrain", "churn", "--run"],
            2,
            "binary.yaml: not a text file (byte 0 is not UTF-8); expected YAML",
        ),
        (
            ["apply", "-f", "{files}/binary.yaml"],
            2,
            "binary.yaml: not a text file (byte 0 is not UTF-8); expected YAML",
        ),
        (
            ["apply", "-f", "{files}/self.yaml"],
            2,
            "self.yaml:1: a YAML alias refers to a node that contains it",
        ),
        (
            ["--project", "{files}/self.yaml", "retrain", "churn", "--run"],
            2,
            "self.yaml:1: a YAML alias refers to a node that contains it",
        ),
        (
            ["apply", "-f", "{files}/forever.yaml"],
            2,
            "forever.yaml:3: monitors.churn.window: expected a duration such as 30s, 15m, 1h, 2d, "
            "got 'forever'",
        ),
        (
            ["serve", "cancer@champion", "--log-level", "loud"],
            2,
            "error: --log-level must be one of critical, error, warning, info, debug, trace, "
            "got 'loud'",
        ),
        (
            ["--home", "{files}/a-file", "models", "list"],
            2,
            "a-file is a file; expected a directory (--home, SHIPYARD_HOME)",
        ),
        (["monitor", "run"], 2, "error: Missing argument 'endpoint'. (see `shipyard monitor run"),
        (["models", "list", "--limit", "x"], 2, "error: Invalid value for '--limit'"),
        (["nosuch"], 2, "error: No such command 'nosuch'."),
        (
            ["predict", "cancer/1", "-i", "rows.csv", "-o", "out.xlsx"],
            2,
            "error: --output out.xlsx: expected a file ending in .parquet, .csv, .jsonl",
        ),
    ],
)
def test_mistakes_are_one_line(
    cli: Cli, files: Path, args: list[str], code: int, message: str
) -> None:
    got, _, err = cli(*(a.replace("{files}", str(files)) for a in args))
    line = one_line(err)
    assert got == code, err
    assert message in line


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SHIPYARD_DATABASE_URL",
            "nonsense://",
            "error: SHIPYARD_DATABASE_URL: database URL of kind 'nonsense' is not one Shipyard "
            "can open",
        ),
        (
            "SHIPYARD_LOG_FLUSH_INTERVAL",
            "often",
            "error: SHIPYARD_LOG_FLUSH_INTERVAL='often': expected a duration such as 30s",
        ),
        (
            "SHIPYARD_LOG_FLUSH_INTERVAL",
            "5m",
            "error: SHIPYARD_LOG_FLUSH_INTERVAL='5m': must be at most 60s, got 300s",
        ),
        (
            "SHIPYARD_ALLOW_PICKLE",
            "perhaps",
            "error: SHIPYARD_ALLOW_PICKLE='perhaps': Input should",
        ),
    ],
)
def test_bad_settings_name_their_variable(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = cli("models", "list")
    assert code == 2
    assert one_line(err).startswith(message)


def test_settings_take_durations(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.core.config import load_settings

    monkeypatch.setenv("SHIPYARD_LOG_FLUSH_INTERVAL", "250ms")
    assert load_settings().log_flush_interval == 0.25


def test_unknown_endpoints_are_refused_and_nothing_is_stored(
    cli: Cli, pkg: Path, tmp_path: Path
) -> None:
    assert cli("register", str(pkg))[0] == 0
    code, _, err = cli("monitor", "run", "cancr")
    assert code == 3
    assert one_line(err) == (
        "error: unknown endpoint 'cancr': no prediction was logged for it and no deployment or "
        "model has that name"
    )
    code, _, err = cli("report", "cancr", "-o", str(tmp_path / "r.html"))
    assert code == 3 and "unknown endpoint 'cancr'" in one_line(err)
    assert not (tmp_path / "r.html").exists()
    code, out, err = cli("monitor", "history", "cancr")
    assert code == 3 and out == ""
    assert one_line(err).startswith("error: unknown endpoint 'cancr': no prediction was logged")
    # a registered model is a known endpoint (an implicit deployment), even before any traffic
    assert cli.json("monitor", "run", "cancer")["rows"] == 0  # type: ignore[index]
    assert len(cli.json("monitor", "history", "cancer")) > 0  # type: ignore[arg-type]


def test_an_unexpected_exception_is_one_line_unless_debugging(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = typer.Typer()

    @tiny.command()
    def broken() -> None:
        raise RuntimeError("the bug\nspans lines")

    monkeypatch.delenv("SHIPYARD_DEBUG")
    assert main(tiny, []) == INTERNAL_ERROR
    line = one_line(capsys.readouterr().err)
    assert line == (
        "error: unexpected RuntimeError: the bug spans lines (a bug in Shipyard: please report "
        "it; rerun with SHIPYARD_DEBUG=1 to see the traceback)"
    )
    monkeypatch.setenv("SHIPYARD_DEBUG", "1")  # tests (and users who ask) see the traceback
    with pytest.raises(RuntimeError, match="the bug"):
        main(tiny, [])


def test_completion_script_is_printed() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "shipyard.interfaces.cli.main", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "_SHIPYARD_COMPLETE=complete_bash" in run.stdout
    assert "complete " in run.stdout and "shipyard" in run.stdout


def test_a_busy_port_fails_before_any_model_loads(pkg: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    exe = [sys.executable, "-m", "shipyard.interfaces.cli.main", "--home", str(home)]
    subprocess.run([*exe, "register", str(pkg)], check=True, capture_output=True, timeout=120)
    # corrupt the stored package: loading it would fail with an integrity error, so a port error
    # alone proves that the port was checked first
    blobs = [p for p in (home / "artifacts").rglob("*") if p.is_file()]
    biggest = max(blobs, key=lambda p: p.stat().st_size)
    biggest.write_bytes(b"corrupted")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [*exe, "serve", "cancer/1", "--port", str(port), "--no-controller"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 4
    assert one_line(run.stderr) == (
        f"error: port {port} on 127.0.0.1 is in use; stop what listens there or pick --port"
    )


def test_docs_list_every_exit_code() -> None:
    from shipyard.interfaces.cli.errors import EXIT_CODES, INTERRUPTED, SUCCESS, USAGE_ERROR

    doc = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    rows = {
        int(cells[0]): cells[2]
        for line in doc.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for cls, code in EXIT_CODES.items():
        assert f"`{cls.__name__}`" in rows.get(code, ""), f"docs/cli.md: {cls.__name__} -> {code}"
    listed = {int(code) for code in rows}
    assert listed == set(EXIT_CODES.values()) | {SUCCESS, USAGE_ERROR, INTERNAL_ERROR, INTERRUPTED}
