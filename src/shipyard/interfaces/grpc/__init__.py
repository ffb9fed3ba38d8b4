"""The Open Inference Protocol (V2) over gRPC: an adapter over the same data plane as HTTP."""
