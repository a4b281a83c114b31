"""What one HTTP client may make the gateway hold: the request head's size and header count,
and the time to send a whole request. uvicorn bounds none of them on its httptools protocol
(its `h11_max_incomplete_event_size` only applies to h11), so a 16 MB header was buffered
and a half-sent request was held open for as long as its client liked.

`LimitedHttpProtocol` is uvicorn's httptools protocol with those bounds: a head over
`gateway_max_header_bytes` or with more than `gateway_max_headers` fields gets 431, a request
not fully received `gateway_request_read_seconds` after its first byte (or after the
connection opened) gets 408, and the connection closes. It leans on uvicorn's protocol
(`HttpToolsProtocol`: `transport`, `cycle`, the parser callbacks `on_url`, `on_header`,
`on_headers_complete`, `on_message_begin`, `on_message_complete`, and `data_received`,
`send_400_response`, `handle_websocket_upgrade`, `connection_lost`); tests/test_gateway_serving.py
fails when one of those changes. Behind a proxy, the proxy's own limits come first
(docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from livefold.settings import Settings

REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


class LimitedHttpProtocol(HttpToolsProtocol):
    max_header_bytes = 32_768
    max_headers = 100
    read_seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # received while the head is incomplete (bounds what is buffered)
        self._head_size = 0  # of the request line's target and the header fields, as parsed
        self._headers = 0
        self._in_head = True
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None

    @classmethod
    def configured(cls, settings: Settings) -> type[LimitedHttpProtocol]:
        return type(
            cls.__name__,
            (cls,),
            {
                "max_header_bytes": settings.gateway_max_header_bytes,
                "max_headers": settings.gateway_max_headers,
                "read_seconds": settings.gateway_request_read_seconds,
            },
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_header_bytes and not self._refused:
            self._refuse(431, f"the request head is over {self.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # else the parser stopped because this protocol refused
            super().send_400_response(msg)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the socket's own protocol takes the connection over
        super().handle_websocket_upgrade()

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self._in_head, self._headers, self._head_size = True, 0, 0
        self._arm()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        self._check_head()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        self._head_size += len(name) + len(value) + 4
        if self._headers > self.max_headers:
            self._refuse(431, f"more than {self.max_headers} header fields")
            raise ValueError("too many header fields")  # stops the parser
        self._check_head()
        super().on_header(name, value)

    def _check_head(self) -> None:
        if self._head_size > self.max_header_bytes:
            self._refuse(431, f"the request head is over {self.max_header_bytes} bytes")
            raise ValueError("request head too large")  # stops the parser

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True  # what comes next is the next request's head
        super().on_message_complete()

    # ------------------------------------------------------------ refusing

    def _arm(self) -> None:
        if self._deadline is None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self.read_seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.response_started:
            self.transport.close()  # answering already: the client has what it sent for
            return
        self._refuse(408, f"the request was not received within {self.read_seconds:g}s")

    def _refuse(self, status: int, reason: str) -> None:
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        body = json.dumps({"error": "bad_request", "reason": reason}).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
