"""Serving: runtime cache, adaptive batcher, router, data plane and protocol codecs."""
