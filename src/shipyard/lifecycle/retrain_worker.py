"""The retraining subprocess: ``python -m shipyard.lifecycle.retrain_worker --entry mod:fn ...``.

It reads the training window (Parquet: feature columns and ``label``), calls the user's
``fn(window, reference) -> model | package path``, and writes a package to ``--out``. It prints one JSON
line with the outcome; any failure exits non-zero with the error on stderr. Running it in a child
process keeps a crashing or hanging training job away from the controller.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shipyard.lifecycle.retrain_worker")
    parser.add_argument("--entry", required=True, help="module:function")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--lineage", default="{}", help="JSON lineage extras")
    args = parser.parse_args(argv)

    import pandas as pd

    from shipyard.package import bundle
    from shipyard.package.environment import capture_lineage

    module_name, _, function_name = args.entry.partition(":")
    if not module_name or not function_name:
        print(f"entrypoint {args.entry!r} must be module:function", file=sys.stderr)
        return 2
    fn = getattr(importlib.import_module(module_name), function_name)
    window = pd.read_parquet(args.data)
    reference = json.loads(args.reference.read_text()) if args.reference.exists() else {}
    result = fn(window, reference)
    target = args.out / "package"
    extra = json.loads(args.lineage)
    if isinstance(result, str | Path):
        source = Path(result)
        bundle.verify(source)
        shutil.copytree(source, target)
    else:
        features = window.drop(columns=["label"])
        lineage = capture_lineage(
            features,
            dataset_name=extra.pop("dataset_name", None),
            parent=extra.pop("parent", None),
            extra=extra,
        )
        bundle.save(
            result,
            target,
            name=args.name,
            X_sample=features,
            y_sample=window["label"],
            lineage=lineage,
            description=f"retrained by {args.entry}",
        )
    print(json.dumps({"package": str(target)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
