"""Starting and stopping the gRPC server inside a worker's event loop (next to uvicorn's HTTP).

It runs on the same loop as the HTTP app so that both share one data plane: its batcher, executor,
prediction log and metrics. With several workers each binds the same port (``SO_REUSEPORT``, grpcio's
default on Linux) and the kernel spreads connections among them, as for HTTP.
"""

from __future__ import annotations

from typing import Any

from shipyard.core.errors import MissingDependency, Unavailable
from shipyard.interfaces.grpc.service import InferenceService


def require_grpc() -> Any:
    """grpcio, or MissingDependency with the pip command."""
    try:
        import grpc
        import grpc.aio
    except ImportError as exc:
        raise MissingDependency("grpcio", "grpc") from exc
    return grpc


async def start(service: InferenceService, host: str, port: int, max_message_bytes: int) -> Any:
    """Bind ``host:port`` and serve; returns the ``grpc.aio.Server`` (stop it with ``stop``)."""
    grpc = require_grpc()
    from shipyard.serving.codecs import proto

    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=proto.RPCS[method][0].FromString,
            response_serializer=proto.RPCS[method][1].SerializeToString,
        )
        for method, call in service.handlers().items()
    }
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 1),
        ]
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(proto.SERVICE, handlers),)
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio raises or returns 0, depending on its version
        raise Unavailable(f"cannot bind the gRPC port {address}: {exc}") from exc
    if bound == 0:
        raise Unavailable(f"cannot bind the gRPC port {address}")
    await server.start()
    return server


async def stop(server: Any, grace: float) -> None:
    """Stop accepting calls; calls in flight get ``grace`` seconds to finish."""
    await server.stop(grace)
