"""The HTTP/1.1 wire protocol of ``shipyard serve``: uvicorn's httptools protocol, with a bound on
the request head.

httptools (llhttp) is uvicorn's fast parser, but it has no limit on the request line and headers: it
buffers a header however long it grows. h11 has one, at about two thirds of httptools' throughput on
a one-row prediction. So the server runs httptools and counts the head itself, while it arrives:

* bytes received since the head began, checked after each chunk is parsed: one endless header is
  refused once the bytes read exceed the bound (memory stays under the bound plus one read);
* the request line plus every header, as the parser hands them over: many headers are refused at
  the header that crosses the bound, before the application sees the request.

A refused request is answered ``431 Request Header Fields Too Large`` and its connection closed.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""Most bytes of a request line plus headers."""
_HEADER_OVERHEAD = 4  # ": " and CRLF around each header


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers 431 to a request head over ``max_head_bytes``."""

    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        """Between the end of a message (or the connection's start) and its next head's end."""
        self._received = 0
        """Bytes received while in a head (an upper bound of the head: it may include a body)."""
        self._parsed = 0
        """Bytes of the request line and headers handed over by the parser (exact)."""
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._received += len(data)
        super().data_received(data)
        if self._in_head and self._received > self.max_head_bytes and not self._refused:
            self._refuse()

    def send_400_response(self, msg: str) -> None:
        if self._refused:  # raised by a callback below: the parser reports it as invalid
            self._answer_431()
            return
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _HEADER_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._received = True, 0

    def _count(self, size: int) -> None:
        self._parsed += size
        if self._parsed > self.max_head_bytes:
            self._refused = True
            raise _HeadTooLarge  # stops the parser; ``send_400_response`` answers 431

    def _refuse(self) -> None:
        self._refused = True
        self._answer_431()

    def _answer_431(self) -> None:
        if self.transport.is_closing():
            return
        body = f"request line and headers are over {self.max_head_bytes} bytes".encode()
        self.logger.warning("refused a request: %s", body.decode())
        self.transport.write(
            b"".join(
                (
                    STATUS_LINE[431],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                )
            )
        )
        self.transport.close()
