"""The Arrow layout of prediction events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shipyard.core.errors import InvalidArgument
from shipyard.telemetry import PredictionEvent, events_to_table
from tests.telemetry.events import T0, failed, tabular

BASE = [
    ("request_id", pa.string()),
    ("row", pa.int32()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("endpoint", pa.string()),
    ("model", pa.string()),
    ("version", pa.int32()),
    ("route", pa.string()),
    ("status", pa.string()),
    ("latency_ms", pa.float32()),
    ("error", pa.string()),
]


def test_tabular_event_types_and_rows() -> None:
    table = events_to_table([tabular("a", rows=3, latency_ms=12.5), tabular("b")])
    assert [(f.name, f.type) for f in table.schema][: len(BASE)] == BASE
    schema = table.schema
    assert schema.field("in.age").type == pa.int64()
    assert schema.field("in.income").type == pa.float64()
    assert schema.field("in.plan").type == pa.string()
    assert schema.field("in.active").type == pa.bool_()
    assert schema.field("out.prediction").type == pa.int64()
    assert schema.field("out.proba.0").type == pa.float64()
    assert schema.field("out.proba.1").type == pa.float64()
    assert table.num_rows == 4
    assert table.column("request_id").to_pylist() == ["a", "a", "a", "b"]
    assert table.column("row").to_pylist() == [0, 1, 2, 0]
    assert table.column("latency_ms").to_pylist() == [12.5, 12.5, 12.5, 10.0]
    assert table.column("in.age").to_pylist() == [30, 31, 32, 30]
    assert table.column("error").null_count == 4
    assert table.column("ts")[0].as_py().timestamp() == T0


def test_tensor_events() -> None:
    two_d = PredictionEvent(
        "t2", T0, "img", "m", 1, "primary", "ok", 1.0,
        inputs=np.arange(6, dtype=np.float32).reshape(2, 3),
        predictions=np.array([0.5, 1.5]),
    )  # fmt: skip
    table = events_to_table([two_d])
    assert table.column_names[len(BASE) :] == ["in.f0", "in.f1", "in.f2", "out.prediction"]
    assert table.schema.field("in.f1").type == pa.float32()
    assert table.column("in.f2").to_pylist() == [2.0, 5.0]

    cube = np.arange(2 * 2 * 3, dtype=np.int64).reshape(2, 2, 3)
    three_d = PredictionEvent(
        "t3", T0, "img", "m", 1, "primary", "ok", 1.0, inputs=cube, predictions=np.ones((2, 4))
    )
    table = events_to_table([three_d])
    assert table.column("in.tensor").to_pylist() == cube.tolist()
    assert table.column("out.prediction").to_pylist() == [[1.0] * 4] * 2


def test_error_event_is_one_row_with_null_outputs() -> None:
    table = events_to_table([failed("e1")])
    assert table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["status"] == "error"
    assert row["error"] == "ModelFailure: boom"
    assert row["out.prediction"] is None
    assert [n for n in table.column_names if n.startswith("in.")] == []


def test_mixed_batch_fills_missing_columns_with_nulls() -> None:
    other = PredictionEvent(
        "x", T0, "churn", "m", 2, "shadow", "ok", 2.0,
        inputs=pd.DataFrame({"age": [1.5], "zone": ["eu"]}),
        predictions=np.array([0.3]),
    )  # fmt: skip
    table = events_to_table([tabular("a", rows=2), failed("e"), other])
    assert table.num_rows == 4
    assert table.schema.field("in.age").type == pa.float64()  # int64 widened
    assert table.schema.field("out.prediction").type == pa.float64()
    rows = {(r["request_id"], r["row"]): r for r in table.to_pylist()}
    assert rows[("x", 0)]["in.plan"] is None
    assert rows[("x", 0)]["in.zone"] == "eu"
    assert rows[("a", 1)]["in.zone"] is None
    assert rows[("x", 0)]["out.proba.1"] is None
    assert rows[("e", 0)]["in.age"] is None


def test_conflicting_types_become_text() -> None:
    texts = PredictionEvent(
        "s", T0, "churn", "m", 2, "primary", "ok", 1.0,
        inputs=pd.DataFrame({"age": ["old"]}),
        predictions=np.array(["yes"]),
    )  # fmt: skip
    table = events_to_table([tabular("a"), texts])
    assert table.schema.field("in.age").type == pa.string()
    assert sorted(table.column("out.prediction").to_pylist()) == ["1", "yes"]


def test_categorical_and_pandas_strings_are_plain_strings() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["a", "b"]), "s": pd.array(["x", None], "string")})
    event = PredictionEvent(
        "c", T0, "e", "m", 1, "primary", "ok", 1.0, inputs=frame, predictions=np.zeros(2)
    )
    table = events_to_table([event])
    assert table.schema.field("in.c").type == pa.string()
    assert table.schema.field("in.s").type == pa.string()
    assert table.column("in.s").to_pylist() == ["x", None]


def test_row_count_mismatch_is_rejected() -> None:
    bad = PredictionEvent(
        "m", T0, "e", "m", 1, "primary", "ok", 1.0,
        inputs=pd.DataFrame({"a": [1, 2]}),
        predictions=np.zeros(3),
    )  # fmt: skip
    with pytest.raises(InvalidArgument):
        events_to_table([bad])


def test_empty_batch() -> None:
    table = events_to_table([])
    assert table.num_rows == 0
    assert [(f.name, f.type) for f in table.schema][: len(BASE)] == BASE
