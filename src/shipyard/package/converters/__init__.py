"""Turning a packaged model into another format (ONNX), checked against the original."""
