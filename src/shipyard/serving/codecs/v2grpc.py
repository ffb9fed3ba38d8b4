"""Open Inference Protocol (V2) over gRPC: protobuf requests and responses <-> V2 tensors.

Inputs arrive either in ``raw_input_contents`` (one little-endian buffer per input, the same layout
as the HTTP binary extension, so ``tensors.from_binary`` reads them) or in each input's typed
``contents``. Outputs are always answered in ``raw_output_contents``, as Triton does; clients
(``tritonclient.grpc``) read both. The model-side conversion (``tensors_to_input``,
``output_tensors``) and the output selection are the HTTP codec's, so both transports accept and
answer the same things.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import InvalidArgument
from shipyard.serving.codecs import proto
from shipyard.serving.codecs.tensors import NUMPY_OF, Tensor, from_binary, to_binary
from shipyard.serving.codecs.v2 import RequestedOutput, V2Request, select_outputs

Message = Any
"""A protobuf message of ``proto`` (classes built at runtime, so untyped to mypy)."""

CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
"""Where each datatype travels in ``InferTensorContents`` (FP16 and BF16 only as raw contents)."""


def parameters(entries: Any) -> dict[str, Any]:
    """A ``map<string, InferParameter>`` as a plain dict."""
    out: dict[str, Any] = {}
    for key, value in entries.items():
        choice = value.WhichOneof("parameter_choice")
        out[key] = None if choice is None else getattr(value, choice)
    return out


def _from_contents(
    name: str, datatype: str, shape: tuple[int, ...], contents: Any
) -> npt.NDArray[Any]:
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        if datatype in NUMPY_OF or datatype == "BF16":
            raise InvalidArgument(f"input {name!r}: {datatype} is only supported as raw contents")
        raise InvalidArgument(
            f"input {name!r}: unknown datatype {datatype!r}; expected one of "
            + ", ".join((*NUMPY_OF, "BF16"))
        )
    values = getattr(contents, field)
    count = int(np.prod(shape)) if shape else 1
    if len(values) != count:
        raise InvalidArgument(
            f"input {name!r}: shape {list(shape)} needs {count} values, "
            f"got {len(values)} in contents.{field}"
        )
    if datatype == "BYTES":
        arr = np.empty(count, dtype=object)
        arr[:] = list(values)
    else:
        arr = np.asarray(values, dtype=NUMPY_OF[datatype])
    return arr.reshape(shape)


def decode_infer_request(msg: Message) -> V2Request:
    """A ``ModelInferRequest`` as the V2 request the HTTP codec also produces."""
    if not msg.inputs:
        raise InvalidArgument("'inputs' must be a non-empty list of tensors")
    raw = msg.raw_input_contents
    if raw and len(raw) != len(msg.inputs):
        raise InvalidArgument(
            f"raw_input_contents has {len(raw)} entries for {len(msg.inputs)} inputs; "
            "send one per input, in order"
        )
    inputs: list[Tensor] = []
    for i, tensor in enumerate(msg.inputs):
        name = tensor.name
        if not name:
            raise InvalidArgument(f"inputs[{i}]: 'name' must be a non-empty string")
        shape = tuple(int(d) for d in tensor.shape)
        if any(d < 0 for d in shape):
            raise InvalidArgument(f"input {name!r}: 'shape' must be non-negative integers")
        if raw:
            if tensor.HasField("contents"):
                raise InvalidArgument(
                    f"input {name!r}: has contents although raw_input_contents is used"
                )
            data = from_binary(name, tensor.datatype, list(shape), raw[i])
        else:
            data = _from_contents(name, tensor.datatype, shape, tensor.contents)
        inputs.append(Tensor(name, tensor.datatype, shape, data, parameters(tensor.parameters)))
    outputs = [RequestedOutput(o.name) for o in msg.outputs] if msg.outputs else None
    return V2Request(
        inputs=inputs, id=msg.id or None, outputs=outputs, parameters=parameters(msg.parameters)
    )


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: list[Tensor],
    request: V2Request,
) -> Message:
    """A ``ModelInferResponse`` with the requested outputs in ``raw_output_contents``."""
    response = proto.ModelInferResponse(
        model_name=model_name, model_version=model_version, id=request_id or ""
    )
    for tensor in select_outputs(outputs, request):
        response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        response.raw_output_contents.append(to_binary(tensor.data, tensor.datatype))
    return response


def tensor_metadata(entries: list[dict[str, Any]], into: Any) -> None:
    """Fill a repeated ``TensorMetadata`` field from the HTTP codec's metadata dicts."""
    for entry in entries:
        into.add(name=entry["name"], datatype=entry["datatype"], shape=entry["shape"])
