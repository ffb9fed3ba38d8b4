"""Open Inference Protocol (V2) requests and responses, JSON and the binary tensor extension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from shipyard.core.errors import InvalidArgument, SchemaError
from shipyard.package.signature import FLOAT_TYPES, INTEGER_TYPES, Signature
from shipyard.serving.codecs.jsonable import dumps, json_values
from shipyard.serving.codecs.tensors import (
    Tensor,
    datatype_of_array,
    datatype_of_signature,
    decode_utf8,
    from_binary,
    from_json,
    to_binary,
    to_json_data,
)

EXTENSIONS = ("binary_tensor_data",)


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None = None


@dataclass(frozen=True)
class V2Request:
    inputs: list[Tensor]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def binary_output(self) -> bool:
        return bool(self.parameters.get("binary_data_output", False))


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def decode_request(body: bytes, header_length: int | None) -> V2Request:
    """Parse an inference request; ``header_length`` is the Inference-Header-Content-Length."""
    if header_length is not None:
        if header_length == 0:
            raise InvalidArgument(
                "raw binary requests (Inference-Header-Content-Length: 0) are not supported; "
                "send a JSON header with the binary tensor data after it"
            )
        if header_length < 0 or header_length > len(body):
            raise InvalidArgument(
                f"Inference-Header-Content-Length {header_length} is outside the body "
                f"({len(body)} bytes)"
            )
        head, binary = body[:header_length], body[header_length:]
    else:
        head, binary = body, b""
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from exc
    doc = _object(doc, "the request body")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidArgument("'inputs' must be a non-empty list of tensors")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    inputs: list[Tensor] = []
    offset = 0
    for i, raw in enumerate(raw_inputs):
        raw = _object(raw, f"inputs[{i}]")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"inputs[{i}]: 'name' must be a non-empty string")
        datatype = raw.get("datatype")
        if not isinstance(datatype, str):
            raise InvalidArgument(f"input {name!r}: 'datatype' must be a string")
        params = _object(raw.get("parameters") or {}, f"input {name!r} parameters")
        shape = raw.get("shape")
        if "binary_data_size" in params:
            size = params["binary_data_size"]
            if not isinstance(size, int) or size < 0:
                raise InvalidArgument(
                    f"input {name!r}: binary_data_size must be a non-negative integer"
                )
            if offset + size > len(binary):
                raise InvalidArgument(
                    f"input {name!r}: binary_data_size {size} runs past the end of the body"
                )
            data = from_binary(name, datatype, shape, binary[offset : offset + size])
            offset += size
        elif "data" in raw:
            data = from_json(name, datatype, shape, raw["data"])
        else:
            raise InvalidArgument(f"input {name!r}: needs 'data' or parameters.binary_data_size")
        inputs.append(Tensor(name, datatype, tuple(data.shape), data, params))
    if offset != len(binary):
        raise InvalidArgument(
            f"the body has {len(binary) - offset} bytes of binary data that no input declares"
        )
    outputs = None
    if doc.get("outputs") is not None:
        if not isinstance(doc["outputs"], list):
            raise InvalidArgument("'outputs' must be a list")
        outputs = []
        for j, raw in enumerate(doc["outputs"]):
            raw = _object(raw, f"outputs[{j}]")
            if not isinstance(raw.get("name"), str):
                raise InvalidArgument(f"outputs[{j}]: 'name' must be a string")
            params = _object(raw.get("parameters") or {}, f"outputs[{j}] parameters")
            binary_flag = params.get("binary_data")
            outputs.append(
                RequestedOutput(raw["name"], None if binary_flag is None else bool(binary_flag))
            )
    params = _object(doc.get("parameters") or {}, "'parameters'")
    return V2Request(inputs=inputs, id=request_id, outputs=outputs, parameters=params)


def select_outputs(outputs: list[Tensor], request: V2Request) -> list[Tensor]:
    """The outputs the request asked for (all when it names none); an unknown name is an error."""
    if request.outputs is None:
        return outputs
    wanted = {o.name for o in request.outputs}
    unknown = [n for n in wanted if n not in {t.name for t in outputs}]
    if unknown:
        raise InvalidArgument(
            f"unknown output {sorted(unknown)[0]!r}; the model has outputs: "
            + ", ".join(t.name for t in outputs)
        )
    return [t for t in outputs if t.name in wanted]


def encode_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: list[Tensor],
    request: V2Request,
) -> tuple[bytes, int | None]:
    """The response body and, when binary outputs are present, its JSON header length."""
    wanted = {o.name: o for o in request.outputs} if request.outputs is not None else None
    outputs = select_outputs(outputs, request)
    chunks: list[bytes] = []
    rendered: list[dict[str, Any]] = []
    for tensor in outputs:
        requested = wanted.get(tensor.name) if wanted else None
        binary = (
            request.binary_output
            if requested is None or requested.binary is None
            else requested.binary
        )
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if tensor.parameters:
            entry["parameters"] = dict(tensor.parameters)
        if binary:
            raw = to_binary(tensor.data, tensor.datatype)
            entry.setdefault("parameters", {})["binary_data_size"] = len(raw)
            chunks.append(raw)
        else:
            entry["data"] = to_json_data(tensor.data, tensor.datatype)
        rendered.append(entry)
    header: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        header["id"] = request_id
    header["outputs"] = rendered
    head = dumps(header)
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)


# -- tensors <-> model inputs and outputs -----------------------------------------------------------


def _column_values(tensor: Tensor) -> npt.NDArray[Any]:
    data = tensor.data
    if data.ndim == 2 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != 1:
        raise SchemaError(
            f"input {tensor.name!r}: expected shape [-1] (one value per row), got {list(data.shape)}",
            field=tensor.name,
        )
    if tensor.datatype == "BYTES":
        return decode_utf8(tensor.name, data)
    return data


def tensors_to_input(signature: Signature, inputs: list[Tensor]) -> pd.DataFrame | npt.NDArray[Any]:
    """Model input from V2 tensors: one tensor per column, or one 2-D tensor of numeric columns."""
    if signature.kind == "tensor":
        if len(inputs) != 1:
            raise SchemaError(f"expected exactly one input tensor, got {len(inputs)}")
        tensor = inputs[0]
        assert signature.tensor is not None
        if tensor.datatype == "BYTES" and signature.tensor.dtype in ("string", "datetime"):
            return decode_utf8(tensor.name, tensor.data)
        return tensor.data
    names = signature.column_names
    if len(inputs) == 1 and inputs[0].name not in names and inputs[0].data.ndim == 2:
        tensor = inputs[0]
        non_numeric = [
            c.name for c in signature.columns if c.dtype not in (*INTEGER_TYPES, *FLOAT_TYPES)
        ]
        if non_numeric:
            raise SchemaError(
                f"a single 2-D input works only when every column is numeric; column "
                f"{non_numeric[0]!r} is not, so send one input per column ({', '.join(names)})",
                field=tensor.name,
            )
        if tensor.data.shape[1] != len(names):
            raise SchemaError(
                f"input {tensor.name!r}: expected shape [-1, {len(names)}] (columns "
                f"{', '.join(names)}), got {list(tensor.data.shape)}",
                field=tensor.name,
            )
        return pd.DataFrame(tensor.data, columns=names)
    known = set(names)
    columns: dict[str, npt.NDArray[Any]] = {}
    for tensor in inputs:
        if tensor.name not in known:
            raise SchemaError(
                f"unexpected input {tensor.name!r}; expected inputs: {', '.join(names)}",
                field=tensor.name,
            )
        columns[tensor.name] = _column_values(tensor)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise SchemaError(f"inputs have different lengths: {sorted(lengths)}")
    return pd.DataFrame(columns)


def model_metadata(name: str, version: int, flavor: str, signature: Signature) -> dict[str, Any]:
    """A model's V2 metadata (HTTP ``GET /v2/models/{name}``, gRPC ``ModelMetadata``)."""
    return {
        "name": name,
        "versions": [str(version)],
        "platform": f"shipyard_{flavor}",
        "inputs": metadata_inputs(signature),
        "outputs": metadata_outputs(signature),
    }


def metadata_inputs(signature: Signature) -> list[dict[str, Any]]:
    if signature.kind == "tensor":
        assert signature.tensor is not None
        return [
            {
                "name": signature.tensor.name,
                "datatype": datatype_of_signature(signature.tensor.dtype),
                "shape": list(signature.tensor.shape),
            }
        ]
    return [
        {"name": c.name, "datatype": datatype_of_signature(c.dtype), "shape": [-1]}
        for c in signature.columns
    ]


def metadata_outputs(signature: Signature) -> list[dict[str, Any]]:
    return [
        {"name": o.name, "datatype": datatype_of_signature(o.dtype), "shape": list(o.shape)}
        for o in signature.outputs
    ]


def output_tensors(
    predictions: npt.NDArray[Any],
    probabilities: npt.NDArray[Any] | None,
    classes: Sequence[Any] | None = None,
) -> list[Tensor]:
    """The ``prediction`` tensor (any dtype: strings and datetimes as BYTES) and, when asked,
    ``probabilities`` with the class names in its parameters (column j is ``classes[j]``)."""
    preds = np.asarray(predictions)
    if preds.dtype.kind in "OUSMm":
        preds = np.asarray(json_values(preds), dtype=object).reshape(preds.shape)
    tensors = [Tensor("prediction", datatype_of_array(preds), tuple(preds.shape), preds)]
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=np.float64)
        params = {"classes": json_values(list(classes))} if classes is not None else {}
        tensors.append(Tensor("probabilities", "FP64", tuple(probs.shape), probs, params))
    return tensors
