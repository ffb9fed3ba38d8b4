"""Model signatures: what a model takes and returns, inferred from a sample or given explicitly.

A signature is either *columns* (tabular: one named, typed, optionally nullable column each) or a
*tensor* (one n-d array with a dtype and a shape, ``-1`` for a free dimension). ``Signature.validate``
turns a DataFrame, a numpy array, a list of dicts (records) or a dict of lists (columns) into what the
model expects, refusing anything it cannot convert without loss, with an error that names the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidArgument, SchemaError

INTEGER_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_TYPES = ("float16", "float32", "float64")
DTYPES = ("bool", *INTEGER_TYPES, *FLOAT_TYPES, "string", "datetime")


def dtype_name(dtype: Any) -> str:
    """Signature dtype of a numpy/pandas dtype (``object`` and strings map to ``string``)."""
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return dtype_name(dtype.categories.dtype)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return str(np.dtype(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype).name)
    return "string"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str
    nullable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "nullable": self.nullable}


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]
    name: str = "input"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class OutputSpec:
    name: str
    dtype: str
    shape: tuple[int, ...] = (-1,)
    classes: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.classes is not None:
            out["classes"] = list(self.classes)
        return out


@dataclass(frozen=True)
class Signature:
    kind: Literal["columns", "tensor"]
    columns: tuple[ColumnSpec, ...] = ()
    tensor: TensorSpec | None = None
    outputs: tuple[OutputSpec, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def output(self, name: str) -> OutputSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "outputs": [o.to_dict() for o in self.outputs]}
        if self.kind == "columns":
            out["columns"] = [c.to_dict() for c in self.columns]
        elif self.tensor is not None:
            out["tensor"] = self.tensor.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        try:
            outputs = tuple(
                OutputSpec(
                    name=str(o["name"]),
                    dtype=str(o["dtype"]),
                    shape=tuple(int(s) for s in o.get("shape", [-1])),
                    classes=tuple(o["classes"]) if o.get("classes") is not None else None,
                )
                for o in data.get("outputs", [])
            )
            if data["kind"] == "tensor":
                t = data["tensor"]
                tensor = TensorSpec(
                    dtype=_check_dtype(str(t["dtype"])),
                    shape=tuple(int(s) for s in t["shape"]),
                    name=str(t.get("name", "input")),
                )
                return cls(kind="tensor", tensor=tensor, outputs=outputs)
            if data["kind"] != "columns":
                raise InvalidArgument(
                    f"signature kind must be 'columns' or 'tensor', got {data['kind']!r}"
                )
            columns = tuple(
                ColumnSpec(
                    name=str(c["name"]),
                    dtype=_check_dtype(str(c["dtype"])),
                    nullable=bool(c.get("nullable", False)),
                )
                for c in data["columns"]
            )
            return cls(kind="columns", columns=columns, outputs=outputs)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed signature: {exc!r}") from exc

    # -- validation -------------------------------------------------------------------------------

    def validate(self, data: object) -> pd.DataFrame | npt.NDArray[Any]:
        """Check ``data`` against the signature and return it in the model's expected form."""
        if self.kind == "tensor":
            assert self.tensor is not None
            return _validate_tensor(data, self.tensor)
        return _validate_columns(data, self.columns)


def _check_dtype(name: str) -> str:
    if name not in DTYPES:
        raise InvalidArgument(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return name


# -- inference ------------------------------------------------------------------------------------


def as_frame(data: object) -> pd.DataFrame:
    """A DataFrame view of tabular input: DataFrame, list of dicts, dict of lists, or 2-D array."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame().T if data.name is None else data.to_frame()
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(k): _as_list(v) for k, v in data.items()})
        except ValueError as exc:
            raise SchemaError(f"columns have different lengths: {exc}") from exc
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise SchemaError(f"expected a 2-D array of rows, got shape {list(data.shape)}")
        return pd.DataFrame(data, columns=[f"f{i}" for i in range(data.shape[1])])
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        rows = list(data)
        if rows and all(isinstance(r, Mapping) for r in rows):
            return pd.DataFrame.from_records(rows)
        if not rows:
            return pd.DataFrame()
        bad = next(i for i, r in enumerate(rows) if not isinstance(r, Mapping))
        raise SchemaError(
            f"row {bad}: expected an object mapping column names to values, got {type(rows[bad]).__name__}",
            field=f"[{bad}]",
        )
    raise SchemaError(
        f"unsupported input type {type(data).__name__}; expected a DataFrame, a numpy array, "
        "a list of records or a dict of columns"
    )


def _as_list(value: object) -> list[Any]:
    if isinstance(value, np.ndarray | pd.Series):
        return list(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def infer_input_signature(sample: object) -> Signature:
    """Infer the input half of a signature from a sample (DataFrame, array or records)."""
    if isinstance(sample, np.ndarray) or _is_tensor_like(sample):
        arr = np.asarray(sample)
        if arr.ndim == 0 or arr.shape[0] == 0:
            raise InvalidArgument("X_sample has no rows; a signature needs at least one")
        return Signature(
            kind="tensor",
            tensor=TensorSpec(dtype=dtype_name(arr.dtype), shape=(-1, *arr.shape[1:])),
        )
    frame = as_frame(sample)
    if frame.empty:
        raise InvalidArgument("X_sample has no rows; a signature needs at least one")
    columns = tuple(
        ColumnSpec(
            name=str(name),
            dtype=_column_dtype(frame[name]),
            nullable=bool(frame[name].isna().any()),
        )
        for name in frame.columns
    )
    return Signature(kind="columns", columns=columns)


def _is_tensor_like(sample: object) -> bool:
    return type(sample).__module__.startswith("torch")


def _column_dtype(series: pd.Series) -> str:
    if series.dtype == object:
        values = series.dropna()
        if len(values) and all(isinstance(v, bool | np.bool_) for v in values):
            return "bool"
        if len(values) and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values
        ):
            return "int64"
        if len(values) and all(isinstance(v, float | int | np.number) for v in values):
            return "float64"
        return "string"
    return dtype_name(series.dtype)


def infer_output_specs(
    predictions: npt.NDArray[Any],
    *,
    classes: Sequence[Any] | None = None,
    probabilities: npt.NDArray[Any] | None = None,
) -> tuple[OutputSpec, ...]:
    preds = np.asarray(predictions)
    outputs = [
        OutputSpec(
            name="prediction",
            dtype=dtype_name(preds.dtype),
            shape=(-1, *preds.shape[1:]),
            classes=tuple(_plain(c) for c in classes) if classes is not None else None,
        )
    ]
    if probabilities is not None:
        probs = np.asarray(probabilities)
        outputs.append(
            OutputSpec(
                name="probabilities",
                dtype=dtype_name(probs.dtype),
                shape=(-1, *probs.shape[1:]),
                classes=tuple(_plain(c) for c in classes) if classes is not None else None,
            )
        )
    return tuple(outputs)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- validation -----------------------------------------------------------------------------------


_PLAIN_NUMBERS = frozenset((int, float))


def _plain_numbers(column: object) -> bool:
    if isinstance(column, np.ndarray):
        return column.dtype.kind in "iuf"
    return isinstance(column, list) and set(map(type, column)) <= _PLAIN_NUMBERS


@lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The column labels of a signature's frames, built once: pandas infers a string dtype for
    a list of names on every DataFrame otherwise (~50 us a request; indexes are immutable)."""
    return pd.Index(list(names), dtype=object)


def _numeric_fast_path(data: object, columns: tuple[ColumnSpec, ...]) -> pd.DataFrame | None:
    """Records, dicts of columns or 2-D arrays for an all-numeric, non-nullable signature, checked
    with one array conversion instead of per-column pandas work. None: take the careful path, which
    also produces the precise error messages."""
    names = [c.name for c in columns]
    try:
        if (
            isinstance(data, list)
            and data
            and all(type(r) is dict and len(r) == len(names) for r in data)
        ):
            rows = [[r[n] for n in names] for r in data]
            if not set(map(type, chain.from_iterable(rows))) <= _PLAIN_NUMBERS:
                return None  # numeric strings and booleans are not numbers
            arr = np.array(rows, dtype=np.float64)
        elif isinstance(data, dict) and len(data) == len(names):
            cols = [data[n] for n in names]
            if not all(_plain_numbers(c) for c in cols):
                return None
            arr = np.array(cols, dtype=np.float64).T
        elif (
            isinstance(data, np.ndarray)
            and data.ndim == 2
            and data.shape[1] == len(names)
            and data.dtype.kind in "iuf"
        ):
            arr = data.astype(np.float64, copy=False)
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[0] == 0 or not np.isfinite(arr).all():
        return None
    frame = pd.DataFrame(arr, columns=_column_index(tuple(names)), copy=False)
    for spec in columns:
        if spec.dtype in INTEGER_TYPES:
            values = arr[:, names.index(spec.name)]
            if not np.all(np.mod(values, 1) == 0):
                return None
            frame[spec.name] = values.astype(spec.dtype)
        elif spec.dtype != "float64":
            frame[spec.name] = frame[spec.name].astype(np.dtype(spec.dtype))
    return frame


def _typed_frame_fast_path(
    data: pd.DataFrame, columns: tuple[ColumnSpec, ...]
) -> pd.DataFrame | None:
    """A DataFrame that already has the signature's numeric columns, in order, with their exact
    dtypes and only finite values (a batch job's chunk read from Parquet): its data is used
    without a copy (a new frame object over it: callers may add columns to what they get). None:
    take the other paths."""
    if len(data) == 0 or len(data.columns) != len(columns):
        return None
    for spec, name, dtype in zip(columns, data.columns, data.dtypes, strict=True):
        if str(name) != spec.name or dtype != np.dtype(spec.dtype):
            return None
    for spec, name in zip(columns, data.columns, strict=True):
        if spec.dtype in FLOAT_TYPES and not np.isfinite(data[name].to_numpy()).all():
            return None
    if isinstance(data.index, pd.RangeIndex) and data.index.start == 0 and data.index.step == 1:
        return data.copy(deep=False)
    return data.reset_index(drop=True)


def _validate_columns(data: object, columns: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    if all(c.dtype in (*INTEGER_TYPES, *FLOAT_TYPES) and not c.nullable for c in columns):
        if isinstance(data, pd.DataFrame):
            typed = _typed_frame_fast_path(data, columns)
            if typed is not None:
                return typed
        fast = _numeric_fast_path(data, columns)
        if fast is not None:
            return fast
    expected = [c.name for c in columns]
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(columns):
            raise SchemaError(
                f"expected a 2-D array with {len(columns)} columns ({', '.join(expected)}), "
                f"got shape {list(data.shape)}"
            )
        frame = pd.DataFrame(data, columns=expected)
    else:
        frame = as_frame(data)
    if len(frame) == 0:
        raise SchemaError("input has no rows; send at least one")
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SchemaError(f"column {twice[0]!r} appears more than once", field=twice[0])
    unexpected = [n for n in names if n not in set(expected)]
    if unexpected:
        raise SchemaError(
            f"unexpected column {unexpected[0]!r}; expected columns: {', '.join(expected)}",
            field=unexpected[0],
        )
    out: dict[str, pd.Series] = {}
    for spec in columns:
        if spec.name not in names:
            if not spec.nullable:
                raise SchemaError(
                    f"missing column {spec.name!r} (expected {spec.dtype})", field=spec.name
                )
            out[spec.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        else:
            out[spec.name] = frame[spec.name]
        out[spec.name] = _coerce(out[spec.name], spec)
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _coerce(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    missing = series.isna()
    if missing.any() and not spec.nullable:
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise SchemaError(
            f"column {spec.name!r} has {int(missing.sum())} missing value(s) (first at row {row}) "
            f"but is not nullable",
            field=spec.name,
        )
    got = _column_dtype(series)
    expected = spec.dtype
    if expected == "string":
        if got != "string" and not missing.all():
            raise SchemaError(f"column {spec.name!r}: expected string, got {got}", field=spec.name)
        _check_strings(series, missing, spec.name)
        return series.astype(object).where(~missing, None)
    if expected == "bool":
        if got != "bool" and not missing.all():
            raise SchemaError(f"column {spec.name!r}: expected bool, got {got}", field=spec.name)
        return series if not missing.any() else series.astype(object)
    if expected == "datetime":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"column {spec.name!r}: expected datetime, got values that do not parse ({exc})",
                field=spec.name,
            ) from exc
    # numeric
    if got in ("string", "datetime") and not missing.all():
        bad = series[~missing].iloc[0]
        raise SchemaError(
            f"column {spec.name!r}: expected {expected}, got {got} (e.g. {bad!r})", field=spec.name
        )
    if got == "bool":
        raise SchemaError(f"column {spec.name!r}: expected {expected}, got bool", field=spec.name)
    if series.dtype == object:  # a boolean among numbers is not a number either
        flags = [isinstance(v, bool | np.bool_) for v in series]
        if any(flags):
            row = flags.index(True)
            raise SchemaError(
                f"column {spec.name!r}: expected {expected}, got a boolean at row {row}",
                field=spec.name,
            )
    values = pd.to_numeric(series, errors="coerce") if series.dtype == object else series
    _check_finite(values, spec.name)
    if expected in FLOAT_TYPES:
        return values.astype(np.dtype(expected))
    # integer expected
    if missing.any():
        return values.astype("float64")  # nullable integers travel as floats with NaN
    arr = values.to_numpy()
    if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0)):
        raise SchemaError(
            f"column {spec.name!r}: expected {expected}, got non-integral float values",
            field=spec.name,
        )
    info = np.iinfo(np.dtype(expected))
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise SchemaError(
            f"column {spec.name!r}: values out of range for {expected}", field=spec.name
        )
    return values.astype(np.dtype(expected))


_NONE = object()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _check_strings(series: pd.Series, missing: pd.Series, name: str) -> None:
    """Every present value of a string column is a string (not a number, object or list)."""
    present = series[~missing]
    if pd.api.types.infer_dtype(present, skipna=True) in ("string", "empty"):
        return
    position = next(i for i, v in enumerate(present) if not isinstance(v, str))
    row = int(np.flatnonzero(~missing.to_numpy())[position])
    kind = _json_kind(present.iloc[position])
    raise SchemaError(f"column {name!r}: expected string, got {kind} at row {row}", field=name)


def _json_kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, int | float | np.number):
        return "a number"
    return type(value).__name__


def _check_finite(values: pd.Series | npt.NDArray[Any], name: str, what: str = "column") -> None:
    """Refuse +-inf: no signature declares it, and JSON cannot carry it (NaN means missing)."""
    arr = np.asarray(values)
    if arr.dtype.kind != "f":
        return
    infinite = np.isinf(arr)
    if infinite.any():
        where = np.argwhere(infinite)[0]
        at = f"row {int(where[0])}" if arr.ndim == 1 else f"index {[int(i) for i in where]}"
        raise SchemaError(
            f"{what} {name!r}: {arr[tuple(where)]} at {at} is not a finite number", field=name
        )


def _validate_tensor(data: object, spec: TensorSpec) -> npt.NDArray[Any]:
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"input is not a rectangular array: {exc}", field=spec.name) from exc
    if arr.size == 0 or arr.ndim == 0:
        raise SchemaError("input has no rows; send at least one", field=spec.name)
    if arr.ndim == len(spec.shape) - 1:
        arr = arr[np.newaxis, ...]  # a single example
    if arr.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, arr.shape, strict=True)
    ):
        raise SchemaError(
            f"input {spec.name!r}: expected shape {list(spec.shape)}, got {list(arr.shape)}",
            field=spec.name,
        )
    target = np.dtype(spec.dtype) if spec.dtype not in ("string", "datetime") else np.dtype(object)
    if arr.dtype.kind in "US" and target.kind != "O":  # numeric strings are not numbers
        raise SchemaError(
            f"input {spec.name!r}: expected {spec.dtype}, got strings", field=spec.name
        )
    if arr.dtype.kind == "b" and target.kind != "b":
        raise SchemaError(f"input {spec.name!r}: expected {spec.dtype}, got bool", field=spec.name)
    if arr.dtype.kind == "O" and target.kind != "O":
        flat = arr.ravel()
        bad = next((v for v in flat if v is not None and not _is_number(v)), _NONE)
        if bad is not _NONE:
            raise SchemaError(
                f"input {spec.name!r}: expected {spec.dtype}, got {_json_kind(bad)} ({bad!r:.40})",
                field=spec.name,
            )
        try:
            arr = arr.astype(target)
        except (ValueError, TypeError, OverflowError) as exc:
            raise SchemaError(
                f"input {spec.name!r}: expected {spec.dtype}, got values that do not fit ({exc})",
                field=spec.name,
            ) from exc
        _check_finite(arr, spec.name, "input")
        return arr
    _check_finite(arr, spec.name, "input")
    # int -> float and float64 -> float32 are routine value casts for model inputs
    routine = arr.dtype.kind in "iuf" and target.kind == "f"
    if arr.dtype != target and not np.can_cast(arr.dtype, target, casting="safe") and not routine:
        raise SchemaError(
            f"input {spec.name!r}: expected {spec.dtype}, got {dtype_name(arr.dtype)}",
            field=spec.name,
        )
    with np.errstate(over="ignore"):  # an overflow is reported below, naming the index
        out = arr.astype(target, copy=False)
    overflow = np.isinf(out) & ~np.isinf(arr) if out is not arr and out.dtype.kind == "f" else None
    if overflow is not None and overflow.any():
        where = [int(i) for i in np.argwhere(overflow)[0]]
        raise SchemaError(
            f"input {spec.name!r}: the value at index {where} does not fit {spec.dtype}",
            field=spec.name,
        )
    return out
