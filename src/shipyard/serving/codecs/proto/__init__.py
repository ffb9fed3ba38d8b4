"""The V2 gRPC messages, built from ``inference.binpb`` (the descriptor set of ``inference.proto``).

Shipyard commits the compiled descriptor instead of ``protoc``-generated ``_pb2`` modules: message
classes are built from it at import time, in a private descriptor pool, so they load on any protobuf
runtime from 4.25 (generated modules pin the runtime to the generator's major version) and never
collide with another copy of ``inference.*`` in the default pool (``tritonclient.grpc`` registers
one). Regenerate the descriptor after editing the ``.proto`` (``tests/serving/test_grpc.py`` checks
they agree)::

    python -m grpc_tools.protoc -I src/shipyard/serving/codecs/proto \\
        --descriptor_set_out=src/shipyard/serving/codecs/proto/inference.binpb inference.proto

Importing this module needs ``protobuf`` (the ``grpc`` extra); without it, MissingDependency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.core.errors import MissingDependency

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("protobuf", "grpc") from exc

DESCRIPTOR_SET = Path(__file__).with_name("inference.binpb")
PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"

_files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
_pool = descriptor_pool.DescriptorPool()
for _file in _files.file:
    _pool.Add(_file)


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


# Message classes are built at runtime, so their fields are untyped to mypy (Any).
ServerLiveRequest = _message("ServerLiveRequest")
ServerLiveResponse = _message("ServerLiveResponse")
ServerReadyRequest = _message("ServerReadyRequest")
ServerReadyResponse = _message("ServerReadyResponse")
ModelReadyRequest = _message("ModelReadyRequest")
ModelReadyResponse = _message("ModelReadyResponse")
ServerMetadataRequest = _message("ServerMetadataRequest")
ServerMetadataResponse = _message("ServerMetadataResponse")
ModelMetadataRequest = _message("ModelMetadataRequest")
ModelMetadataResponse = _message("ModelMetadataResponse")
ModelInferRequest = _message("ModelInferRequest")
ModelInferResponse = _message("ModelInferResponse")
InferTensorContents = _message("InferTensorContents")

RPCS: dict[str, tuple[Any, Any]] = {
    "ServerLive": (ServerLiveRequest, ServerLiveResponse),
    "ServerReady": (ServerReadyRequest, ServerReadyResponse),
    "ModelReady": (ModelReadyRequest, ModelReadyResponse),
    "ServerMetadata": (ServerMetadataRequest, ServerMetadataResponse),
    "ModelMetadata": (ModelMetadataRequest, ModelMetadataResponse),
    "ModelInfer": (ModelInferRequest, ModelInferResponse),
}
"""Each RPC of the service: (request class, response class)."""
