"""Reading request bodies: a size limit on the wire and after decompression (gzip, deflate), a
deadline for the whole body (a stalled upload is answered 408 and closed), and a bound on what a
JSON body may cost once decoded, relative to its size.
"""

from __future__ import annotations

import asyncio
import zlib

from starlette.requests import Request

from shipyard.core.errors import (
    InvalidArgument,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 30.0
MAX_DECODE_FACTOR = 20
"""A JSON body may decode to at most this many times its size in Python objects."""
_DECODE_CHECK_FROM = 1024 * 1024  # smaller bodies cannot cost much whatever their shape
# bytes of Python objects per JSON token (CPython 3.11: a small dict ~232, a list ~72 with its
# slot, a float or str ~32 with its slot): a cheap upper estimate computed at C speed
_COST = ((b"{", 232), (b"[", 72), (b",", 32))


def check_decoded_cost(body: bytes, factor: int = MAX_DECODE_FACTOR) -> None:
    """Refuse a JSON body whose decoded objects would cost more than ``factor`` x its size
    (31 MB of ``[{},{},...]`` is ~940 MB of dicts)."""
    if len(body) < _DECODE_CHECK_FROM:
        return
    estimate = sum(body.count(token) * cost for token, cost in _COST)
    if estimate > factor * len(body):
        raise PayloadTooLarge(
            f"this {len(body)}-byte JSON body would decode to about {estimate // 2**20} MB of "
            f"objects (more than {factor}x its size); send columns ({{'columns': ...}}, "
            "'dataframe_split') or binary V2 tensors instead of many small records"
        )


async def read_body(request: Request, limit: int, timeout: float = DEFAULT_BODY_TIMEOUT_S) -> bytes:
    body = _decode(request, await receive_body(request, limit, timeout), limit)
    content_type = request.headers.get("content-type", "application/json").lower()
    binary = "inference-header-content-length" in request.headers
    if not binary and ("json" in content_type or not content_type.startswith("text/")):
        check_decoded_cost(body)
    return body


async def receive_body(
    request: Request, limit: int, timeout: float = DEFAULT_BODY_TIMEOUT_S
) -> bytes:
    """The body as sent (still compressed), within ``limit`` bytes and ``timeout`` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes, over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise RequestTimeout(
            f"the request body did not arrive within {timeout:g} s ({size} bytes received)"
        ) from exc
    return b"".join(chunks)


def _decode(request: Request, body: bytes, limit: int) -> bytes:
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
