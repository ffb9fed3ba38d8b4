"""Reading user data files for commands that take input rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shipyard.core.errors import InvalidArgument, NotFound


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise NotFound(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".json", ".jsonl"):
            return pd.read_json(path, orient="records", lines=suffix == ".jsonl")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise InvalidArgument(f"cannot read {path}: {exc}") from exc
    raise InvalidArgument(f"{path}: expected a .csv, .json, .jsonl or .parquet file")
