"""Reading request bodies: a size limit on the wire and after decompression (gzip, deflate)."""

from __future__ import annotations

import zlib

from starlette.requests import Request

from shipyard.core.errors import InvalidArgument, PayloadTooLarge, UnsupportedMediaType

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes, over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(
            f"content encoding {encoding!r} is not supported; use gzip or deflate"
        )
    # gzip: wbits 16+15; deflate: zlib stream (what HTTP clients send), raw deflate as a fallback
    attempts = [16 + zlib.MAX_WBITS] if encoding == "gzip" else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed request body is over the limit of {limit} bytes")
        return out
    raise InvalidArgument(f"request body is not valid {encoding} data")
