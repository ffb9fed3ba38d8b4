"""Reading and writing user data files for commands that take or give rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

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


OUTPUT_SUFFIXES = (".parquet", ".csv", ".jsonl")


def check_output(path: Path) -> None:
    """Refuse an output path we cannot write, before any work is done."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidArgument(
            f"--output {path}: expected a file ending in {', '.join(OUTPUT_SUFFIXES)}"
        )
    if path.is_dir():
        raise InvalidArgument(f"--output {path} is a directory")
    if not path.parent.is_dir():
        raise InvalidArgument(f"--output {path}: directory {path.parent} does not exist")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` in the format of ``path``'s suffix, atomically (a reader never sees half)."""
    check_output(path)
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            # json, not pandas: every float keeps all its digits
            lines = (json.dumps(row, default=str) + "\n" for row in frame.to_dict("records"))
            tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
