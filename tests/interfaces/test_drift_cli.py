"""``shipyard drift`` and ``shipyard.drift()``: files and model references, exit codes, JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shipyard
from shipyard import package
from shipyard.monitoring.file_drift import ParquetRows, current_batches
from shipyard.monitoring.file_drift import drift as file_drift
from shipyard.stats.drift.verdict import DatasetDrift
from tests.interfaces.test_cli import Cli


def frame(n: int, seed: int, *, flag_share: float = 0.1, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "flag": (rng.random(n) < flag_share).astype(np.int64),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        }
    )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(capsys, monkeypatch)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "ref": tmp_path / "ref.parquet",
        "same": tmp_path / "same.parquet",
        "drifted": tmp_path / "drifted.csv",
    }
    frame(20_000, 1).to_parquet(paths["ref"])
    pq.write_table(pa.Table.from_pandas(frame(10_000, 2)), paths["same"], row_group_size=1_000)
    frame(5_000, 3, flag_share=0.5).to_csv(paths["drifted"], index=False)
    return paths


def test_a_drifted_csv_exits_1_with_the_monitor_json_shape(
    cli: Cli, files: dict[str, Path]
) -> None:
    code, out, err = cli("drift", str(files["ref"]), str(files["drifted"]), "--json")
    assert code == 1 and err == ""  # no progress bar when not on a terminal
    report = json.loads(out)
    assert report["rows"] == 5_000 and report["dataset"]["drift"] is True
    assert report["dataset"]["drifted"] == ["flag"]
    assert set(report["dataset"]) == {"drift", "drifted", "correction", "alpha"}
    flag, x = report["features"]["flag"], report["features"]["x"]
    assert flag["drift"] is True and flag["kind"] == "categorical"  # a 0/1 column, per value
    assert flag["results"]["psi"]["statistic"] > 0.5 and x["drift"] is False
    assert set(x["results"]) >= {"ks", "psi", "wasserstein", "jensenshannon", "missing"}
    assert x["results"]["ks"]["method"] == "raw"


def test_an_unchanged_parquet_exits_0_and_columns_restrict_the_check(
    cli: Cli, files: dict[str, Path]
) -> None:
    code, out, _ = cli("drift", str(files["ref"]), str(files["same"]))
    assert code == 0 and "no drift" in out and "0 of 3 columns drifted" in out
    code, out, _ = cli("drift", str(files["ref"]), str(files["drifted"]), "--columns", "x,plan")
    assert code == 0 and "flag" not in out
    code, out, _ = cli("drift", str(files["ref"]), str(files["same"]), "--stattest", "ks", "--json")
    assert code == 0 and json.loads(out)["rows"] == 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{ref}", "{tmp}/absent.parquet"], "absent.parquet does not exist"),
        (["{ref}", "{tmp}/notes.txt"], "expected a .parquet or .csv file"),
        (["{ref}", "{tmp}/broken.parquet"], "cannot read"),
        (["{ref}", "{same}", "--columns", "x,nope"], "the reference has no column 'nope'"),
        (["{ref}", "{same}", "--stattest", "psi"], "stat test 'psi' is a distance"),
        (["{ref}", "{same}", "--stattest", "nope"], "unknown stat test 'nope'"),
        (["nobody@champion", "{same}"], "neither a .parquet/.csv file nor a model reference"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    cli: Cli, files: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.parquet").write_bytes(b"not a parquet file")
    values = {"ref": files["ref"], "same": files["same"], "tmp": tmp_path}
    argv = [a.format(**values) for a in args]
    code, out, err = cli("--home", str(tmp_path / "home"), "drift", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_column_names_and_values_from_files_are_printed_literally(cli: Cli, tmp_path: Path) -> None:
    hostile = "[/red]:x:[b]"
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({hostile: rng.choice(["a", "b"], 2_000)})
    cur = pd.DataFrame({hostile: rng.choice(["a", hostile], 2_000)})
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    code, out, err = cli("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"))
    assert code == 1 and err == "" and hostile in out


def test_a_model_reference_uses_its_package_profile(
    cli: Cli, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="cancer", X_sample=X)
    home = str(tmp_path / "home")
    assert cli("--home", home, "register", str(tmp_path / "pkg"))[0] == 0
    assert cli("--home", home, "alias", "set", "cancer", "champion", "1")[0] == 0
    shifted = X.copy()
    shifted["mean radius"] = shifted["mean radius"] + 3 * shifted["mean radius"].std()
    shifted.to_parquet(tmp_path / "today.parquet")
    code, out, err = cli(
        "--home", home, "drift", "cancer@champion", str(tmp_path / "today.parquet"), "--json"
    )
    assert code == 1, err
    report = json.loads(out)
    assert report["reference"] == "cancer/1" and report["dataset"]["drifted"] == ["mean radius"]
    X.to_parquet(tmp_path / "same.parquet")
    assert cli("--home", home, "drift", "cancer@champion", str(tmp_path / "same.parquet"))[0] == 0


def test_the_current_file_is_read_in_batches(files: dict[str, Path]) -> None:
    seen: list[tuple[int, int | None]] = []
    report = file_drift(
        str(files["ref"]),
        str(files["same"]),
        batch_rows=1_000,
        progress=lambda r, t: seen.append((r, t)),
    )
    assert seen == [(1_000 * (i + 1), 10_000) for i in range(10)]
    whole = file_drift(str(files["ref"]), str(files["same"]))
    assert report.to_dict() == whole.to_dict()  # batches merge to the same statistics
    # columns profiled by one thread or several: the same report
    one = file_drift(str(files["ref"]), str(files["same"]), batch_rows=1_000, threads=1)
    three = file_drift(str(files["ref"]), str(files["same"]), batch_rows=1_000, threads=3)
    assert one.to_dict() == three.to_dict() == whole.to_dict()
    assert one.current_profile == three.current_profile


def test_parquet_is_read_in_runs_of_row_groups_one_column_at_a_time(
    files: dict[str, Path], tmp_path: Path
) -> None:
    chunks = list(current_batches(str(files["same"]), None, 2_500))  # 10 row groups of 1,000
    assert [len(c) for c in chunks] == [3_000, 3_000, 3_000, 1_000]
    assert all(isinstance(c, ParquetRows) for c in chunks)
    column = chunks[1].column("x")  # only this column of these rows is read
    expected = pd.read_parquet(files["same"])["x"].to_numpy()[3_000:6_000]
    assert np.array_equal(column.to_numpy(), expected)
    # a DataFrame's index stored with it is no column; an fsspec URL reads the same data
    indexed = frame(2_000, 2).set_index(pd.Index(np.arange(2_000) * 2, name="row_id"))
    indexed.to_parquet(tmp_path / "indexed.parquet")
    local = file_drift(str(files["ref"]), str(tmp_path / "indexed.parquet"))
    assert local.unexpected_columns == [] and local.rows == 2_000
    url = file_drift(str(files["ref"]), (tmp_path / "indexed.parquet").as_uri())
    assert url.to_dict()["features"] == local.to_dict()["features"]
    # a gzipped CSV is decompressed, by path and by URL
    frame(2_000, 2).to_csv(tmp_path / "same.csv.gz", index=False)
    gz = file_drift(str(files["ref"]), str(tmp_path / "same.csv.gz"))
    assert gz.rows == 2_000 and gz.to_dict()["features"] == local.to_dict()["features"]
    gz_url = file_drift(str(files["ref"]), (tmp_path / "same.csv.gz").as_uri())
    assert gz_url.to_dict()["features"] == gz.to_dict()["features"]


def test_python_api_takes_dataframes_and_paths(files: dict[str, Path]) -> None:
    report = shipyard.drift(frame(20_000, 1), frame(5_000, 3, flag_share=0.5))
    assert isinstance(report, shipyard.DriftReport) and isinstance(report.result, DatasetDrift)
    assert report.drift and report.drifted == ["flag"]
    same = shipyard.drift(files["ref"], files["same"], columns=["x"])
    assert not same.drift and list(same.result.columns) == ["x"] and same.rows == 10_000


def test_report_writes_the_html_of_a_file(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    out_html = tmp_path / "report.html"
    code, _, err = cli(
        "report",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["drifted"]),
        "-o",
        str(out_html),
    )
    assert code == 0, err
    html = out_html.read_text()
    assert "drift report" in html and "drifted.csv" in html and "ref.parquet" in html
    assert "flag" in html and "<script" not in html
    code, _, err = cli("report", "--reference", str(files["ref"]), "-o", str(out_html))
    assert code == 2 and "--reference and --current go together" in err
