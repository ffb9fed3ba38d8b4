"""JSON-ready encoding of column profiles (plain lists and dicts), used by ``DatasetProfile``.

Kept apart from ``profile`` so that module holds only the numerics. Decoding is tolerant: fields
added after a profile was written (``quantiles``, ``sample``, ``unseen``, ``levels``,
``sketch_on_values``) default to empty/false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    Histogram,
    Moments,
    NumericProfile,
)


def _col_to_dict(col: ColumnProfile) -> dict[str, Any]:
    if isinstance(col, NumericProfile):
        m = col.moments
        return {
            "kind": "numeric",
            "rows": col.rows,
            "missing": col.missing,
            "infinite": col.infinite,
            "moments": {"count": m.count, "mean": m.mean, "m2": m.m2, "min": m.min, "max": m.max},
            "histogram": {"edges": list(col.histogram.edges), "counts": list(col.histogram.counts)},
            "sketch": {"edges": list(col.sketch.edges), "counts": list(col.sketch.counts)},
            "quantiles": list(col.quantiles),
            "sample": list(col.sample),
            "sketch_on_values": col.sketch_on_values,
        }
    return {
        "kind": "categorical",
        "rows": col.rows,
        "missing": col.missing,
        "categories": list(col.categories),
        "counts": list(col.counts),
        "other": col.other,
        "distinct": col.distinct,
        "unseen": dict(col.unseen),
        **({"levels": list(col.levels)} if col.levels else {}),
    }


def _hist(d: Mapping[str, Any]) -> Histogram:
    return Histogram(
        edges=tuple(float(e) for e in d["edges"]), counts=tuple(int(c) for c in d["counts"])
    )


def _col_from_dict(d: Mapping[str, Any]) -> ColumnProfile:
    if d["kind"] == "numeric":
        m = d["moments"]
        return NumericProfile(
            kind="numeric",
            rows=int(d["rows"]),
            missing=int(d["missing"]),
            infinite=int(d["infinite"]),
            moments=Moments(
                count=int(m["count"]),
                mean=float(m["mean"]),
                m2=float(m["m2"]),
                min=m["min"],
                max=m["max"],
            ),
            histogram=_hist(d["histogram"]),
            sketch=_hist(d["sketch"]),
            quantiles=tuple(float(q) for q in d.get("quantiles", ())),
            sample=tuple(float(v) for v in d.get("sample", ())),
            sketch_on_values=bool(d.get("sketch_on_values", False)),
        )
    return CategoricalProfile(
        kind="categorical",
        rows=int(d["rows"]),
        missing=int(d["missing"]),
        categories=tuple(str(c) for c in d["categories"]),
        counts=tuple(int(c) for c in d["counts"]),
        other=int(d["other"]),
        distinct=int(d["distinct"]),
        unseen={str(k): int(v) for k, v in d.get("unseen", {}).items()},
        levels=tuple(float(v) for v in d.get("levels", ())),
    )
