"""Signature inference and validation: precise errors, safe casts only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import SchemaError
from shipyard.package.signature import ColumnSpec, Signature, TensorSpec, infer_input_signature

SIG = Signature(
    kind="columns",
    columns=(
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float64"),
        ColumnSpec("plan", "string"),
        ColumnSpec("tenure", "float64", nullable=True),
    ),
)
ROW = {"age": 30, "income": 1000.5, "plan": "pro", "tenure": 2.0}


def test_inference_from_frame_records_and_arrays() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, None], "c": ["x", "y"], "d": [True, False]})
    sig = infer_input_signature(frame)
    assert [(c.name, c.dtype, c.nullable) for c in sig.columns] == [
        ("a", "int64", False),
        ("b", "float64", True),
        ("c", "string", False),
        ("d", "bool", False),
    ]
    assert infer_input_signature(frame.to_dict("records")).columns == sig.columns
    tensor = infer_input_signature(np.zeros((4, 3), dtype=np.float32))
    assert tensor.kind == "tensor" and tensor.tensor == TensorSpec("float32", (-1, 3))


def test_round_trip_through_dict() -> None:
    assert Signature.from_dict(SIG.to_dict()) == SIG


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"age": 30, "income": 1.0, "tenure": 1.0}], "missing column 'plan' (expected string)"),
        (
            [{**ROW, "zip": "123"}],
            "unexpected column 'zip'; expected columns: age, income, plan, tenure",
        ),
        ([{**ROW, "age": "thirty"}], "column 'age': expected int64, got string (e.g. 'thirty')"),
        ([{**ROW, "income": "rich"}], "column 'income': expected float64, got string"),
        ([{**ROW, "plan": 3}], "column 'plan': expected string, got int64"),
        ([{**ROW, "age": 30.5}], "column 'age': expected int64, got non-integral float values"),
        (
            [{**ROW, "age": None}],
            "column 'age' has 1 missing value(s) (first at row 0) but is not nullable",
        ),
        ([], "input has no rows"),
        ([ROW, 3], "row 1: expected an object mapping column names to values, got int"),
        ("hello", "unsupported input type str"),
        (
            np.zeros((2, 3)),
            "expected a 2-D array with 4 columns (age, income, plan, tenure), got shape [2, 3]",
        ),
    ],
)
def test_bad_input_messages(data: object, message: str) -> None:
    with pytest.raises(SchemaError) as info:
        SIG.validate(data)
    assert message in str(info.value)


def test_errors_name_the_field() -> None:
    with pytest.raises(SchemaError) as info:
        SIG.validate([{**ROW, "income": "x"}])
    assert info.value.field == "income"


def test_safe_casts_are_allowed() -> None:
    out = SIG.validate(
        [{"age": 30, "income": 1000, "plan": "a"}, {"age": 41.0, "income": 2, "plan": "b"}]
    )
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["age", "income", "plan", "tenure"]
    assert out["income"].dtype == np.float64 and out["age"].dtype == np.int64
    assert out["tenure"].isna().all()  # nullable and absent -> missing
    reordered = SIG.validate(pd.DataFrame([ROW])[["plan", "tenure", "income", "age"]])
    assert list(reordered.columns) == ["age", "income", "plan", "tenure"]
    columns = SIG.validate({"age": [1, 2], "income": [0.1, 0.2], "plan": ["a", "b"]})
    assert len(columns) == 2


def test_tensor_validation() -> None:
    sig = Signature(kind="tensor", tensor=TensorSpec("float32", (-1, 3)))
    out = sig.validate([[1, 2, 3], [4, 5, 6]])
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 3)
    assert sig.validate([1.0, 2.0, 3.0]).shape == (1, 3)  # type: ignore[union-attr]
    with pytest.raises(SchemaError, match=r"expected shape \[-1, 3\], got \[2, 2\]"):
        sig.validate([[1, 2], [3, 4]])
    with pytest.raises(SchemaError, match="expected float32, got strings"):
        sig.validate([["a", "b", "c"]])
    with pytest.raises(SchemaError, match="expected float32, got strings"):
        sig.validate([["1.5", "2", "3"]])  # numeric strings are not numbers
    with pytest.raises(SchemaError, match="expected float32, got bool"):
        sig.validate([[True, False, True]])
    with pytest.raises(SchemaError, match="is not a finite number"):
        sig.validate(np.array([[1.0, np.inf, 3.0]]))
    with pytest.raises(SchemaError, match=r"the value at index \[0, 1\] does not fit float32"):
        sig.validate(np.array([[1.0, 1e300, 3.0]]))
    assert np.isnan(sig.validate([[1.0, None, 3.0]])[0, 1])  # type: ignore[index]
    with pytest.raises(SchemaError, match="not a rectangular array"):
        sig.validate([[1, 2, 3], [1]])
    ints = Signature(kind="tensor", tensor=TensorSpec("int32", (-1, 2)))
    with pytest.raises(SchemaError, match="expected int32, got float64"):
        ints.validate(np.array([[1.5, 2.0]]))


def test_client_mistakes_in_columns_name_the_column() -> None:
    sig = Signature(
        kind="columns",
        columns=(ColumnSpec("zip", "string"), ColumnSpec("x", "float64")),
    )
    with pytest.raises(SchemaError, match="column 'zip': expected string, got an object at row 1"):
        sig.validate([{"zip": "02134", "x": 1.0}, {"zip": {"a": 1}, "x": 1.0}])
    with pytest.raises(SchemaError, match="column 'zip': expected string, got a list at row 0"):
        sig.validate([{"zip": ["0"], "x": 1.0}])
    with pytest.raises(SchemaError, match="column 'zip': expected string, got a number at row 1"):
        sig.validate([{"zip": "02134", "x": 1.0}, {"zip": 2134, "x": 1.0}])
    with pytest.raises(SchemaError, match="column 'x': expected float64, got a boolean at row 0"):
        sig.validate([{"zip": "a", "x": True}, {"zip": "b", "x": 2.0}])
    with pytest.raises(SchemaError, match="column 'x': inf at row 0 is not a finite number"):
        sig.validate(pd.DataFrame({"zip": ["a"], "x": [np.inf]}))
    with pytest.raises(SchemaError, match="column 'x' appears more than once"):
        sig.validate(pd.DataFrame([["a", 1.0, 2.0]], columns=["zip", "x", "x"]))


def test_numeric_fast_path_refuses_strings_and_booleans() -> None:
    sig = Signature(kind="columns", columns=(ColumnSpec("a", "float64"), ColumnSpec("b", "int64")))
    with pytest.raises(SchemaError, match="column 'a': expected float64, got string"):
        sig.validate([{"a": "0.5", "b": 1}])
    with pytest.raises(SchemaError, match="column 'a': expected float64, got a boolean"):
        sig.validate({"a": [True, 0.5], "b": [1, 2]})
    out = sig.validate([{"a": 0.5, "b": 1}])
    assert out["a"].tolist() == [0.5] and out["b"].dtype == np.int64
