"""Open Inference Protocol (V2) datatypes and their numpy forms, JSON and binary.

Binary tensors are little-endian, row-major, unpadded; a BYTES element is a 4-byte little-endian
length followed by the bytes; BOOL is one byte. BF16 (binary only) is widened to float32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import InvalidArgument

NUMPY_OF: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
DATATYPES = tuple(NUMPY_OF)
BINARY_ONLY = ("BF16",)

_SIGNATURE_TO_V2 = {
    "bool": "BOOL",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
    "datetime": "BYTES",
}


def datatype_of_signature(dtype: str) -> str:
    return _SIGNATURE_TO_V2.get(dtype, "BYTES")


def datatype_of_array(arr: npt.NDArray[Any]) -> str:
    kind = arr.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iuf":
        for name, np_type in NUMPY_OF.items():
            if name != "BYTES" and np.dtype(np_type) == arr.dtype:
                return name
    return "BYTES"


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: npt.NDArray[Any]
    parameters: dict[str, Any] = field(default_factory=dict)


def _check_shape(name: str, shape: object) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidArgument(f"input {name!r}: 'shape' must be a list of non-negative integers")
    return tuple(shape)


def _flatten(data: Any) -> list[Any]:
    out: list[Any] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def from_json(name: str, datatype: str, shape: object, data: Any) -> npt.NDArray[Any]:
    dims = _check_shape(name, shape)
    count = prod(dims)
    if datatype in BINARY_ONLY:
        raise InvalidArgument(f"input {name!r}: {datatype} is only supported as binary data")
    if datatype not in NUMPY_OF:
        raise InvalidArgument(
            f"input {name!r}: unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        )
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        flat = _flatten(data)
        if any(not isinstance(v, str) for v in flat):
            raise InvalidArgument(f"input {name!r}: BYTES data must be strings in JSON")
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
    else:
        try:
            with np.errstate(over="ignore"):  # an overflow is reported below, naming the value
                arr = np.asarray(data, dtype=NUMPY_OF[datatype]).ravel()
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidArgument(f"input {name!r}: data is not {datatype} values ({exc})") from exc
        if datatype == "BOOL" and any(not isinstance(v, bool) for v in _flatten(data)):
            raise InvalidArgument(f"input {name!r}: BOOL data must be true/false")
        if arr.dtype.kind == "f" and np.isinf(arr).any():  # JSON has no inf: a value overflowed
            index = int(np.flatnonzero(np.isinf(arr))[0])
            raise InvalidArgument(
                f"input {name!r}: value {_flatten(data)[index]!r} at position {index} "
                f"does not fit {datatype}"
            )
    if arr.size != count:
        raise InvalidArgument(
            f"input {name!r}: shape {list(dims)} needs {count} values, got {arr.size}"
        )
    return arr.reshape(dims)


def from_binary(name: str, datatype: str, shape: object, chunk: bytes) -> npt.NDArray[Any]:
    dims = _check_shape(name, shape)
    count = prod(dims)
    if datatype == "BYTES":
        items: list[bytes] = []
        offset = 0
        while offset < len(chunk):
            if offset + 4 > len(chunk):
                raise InvalidArgument(f"input {name!r}: truncated BYTES element length")
            (length,) = struct.unpack_from("<I", chunk, offset)
            offset += 4
            if offset + length > len(chunk):
                raise InvalidArgument(f"input {name!r}: BYTES element runs past its data")
            items.append(chunk[offset : offset + length])
            offset += length
        if len(items) != count:
            raise InvalidArgument(
                f"input {name!r}: shape {list(dims)} needs {count} BYTES elements, got {len(items)}"
            )
        arr = np.empty(count, dtype=object)
        arr[:] = items
        return arr.reshape(dims)
    if datatype == "BF16":
        np_dtype = np.dtype("<u2")
    elif datatype in NUMPY_OF:
        np_dtype = np.dtype(NUMPY_OF[datatype]).newbyteorder("<")
    else:
        raise InvalidArgument(f"input {name!r}: unknown datatype {datatype!r}")
    if len(chunk) != count * np_dtype.itemsize:
        raise InvalidArgument(
            f"input {name!r}: shape {list(dims)} of {datatype} needs "
            f"{count * np_dtype.itemsize} bytes, got {len(chunk)}"
        )
    raw = np.frombuffer(chunk, dtype=np_dtype)
    if datatype == "BF16":
        return (raw.astype("<u4") << 16).view("<f4").reshape(dims)
    if datatype == "BOOL":
        return raw.astype(bool).reshape(dims)
    return raw.astype(np_dtype.newbyteorder("="), copy=False).reshape(dims)


def decode_utf8(name: str, arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """BYTES elements as text, for string inputs; invalid UTF-8 is the client's mistake."""
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.ravel(), out.reshape(-1)
    for i, value in enumerate(flat_in):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidArgument(
                    f"input {name!r}: BYTES element {i} is not valid UTF-8 ({exc.reason} at "
                    f"byte {exc.start})"
                ) from exc
        flat_out[i] = value
    return out


def to_binary(arr: npt.NDArray[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts: list[bytes] = []
        for item in arr.ravel():
            raw = item if isinstance(item, bytes) else b"" if item is None else str(item).encode()
            parts.append(struct.pack("<I", len(raw)))
            parts.append(raw)
        return b"".join(parts)
    np_dtype = np.dtype(NUMPY_OF[datatype]).newbyteorder("<")
    return np.ascontiguousarray(arr, dtype=np_dtype).tobytes()


def to_json_data(arr: npt.NDArray[Any], datatype: str) -> list[Any]:
    flat = arr.ravel()
    if datatype == "BYTES":  # a missing value (None) stays null
        return [
            v.decode(errors="replace") if isinstance(v, bytes) else None if v is None else str(v)
            for v in flat
        ]
    values: list[Any] = flat.tolist()
    return values
