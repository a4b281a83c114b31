"""Every use of uvicorn's internals: its sans-I/O WebSocket protocol object, which the hub
writes frames to without an await per socket (`gateway/ws.py`), a subclass of it that offers
compression without context takeover (`gateway/frames.py` explains why), and a subclass of its
httptools HTTP protocol that bounds what one client may make the gateway hold
(`LimitedHttpProtocol`).

uvicorn is pinned exactly (pyproject.toml). `RELIES_ON` lists the protocol's attributes used
here and `PINNED_SOURCE` the sha256 of the uvicorn methods whose behaviour is repeated or
replaced here (`__init__` builds the connection `DeflateProtocol` replaces; `send` is how
uvicorn closes, which `RawSocket.close` does without awaiting); tests/test_library_internals.py
fails, naming the attribute, when the installed uvicorn lacks or changed one, and when code
outside this module reaches into uvicorn's protocols.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

from livefold.settings import Settings

RELIES_ON: dict[type, tuple[str, ...]] = {
    WebSocketsSansIOProtocol: ("conn", "transport", "close_sent", "close_timer", "config", "send"),
    Config: ("ws_max_size",),
    HttpToolsProtocol: (
        "transport",
        "cycle",
        "connection_made",
        "connection_lost",
        "data_received",
        "send_400_response",
        "handle_websocket_upgrade",
        "on_message_begin",
        "on_url",
        "on_header",
        "on_headers_complete",
        "on_message_complete",
    ),
    RequestResponseCycle: ("response_started", "response_complete"),  # LimitedHttpProtocol
}
PINNED_SOURCE: dict[str, str] = {
    "uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol.__init__": (
        "631dcd744eab875ffd404bbda22f9dd0db25b90e2585748710bce88357dce74b"
    ),
    "uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol.send": (
        "d4919ed760ce9f7be8574989b91ed67448f210ff9cc114f38d286487ec1ddfc8"
    ),
}


class DeflateProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, offering permessage-deflate without context
    takeover (uvicorn's own offer keeps the server's, which shared frames would break)."""

    window_bits = 12  # uvicorn's choice: 4 KiB of window per socket

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = ServerProtocol(
            extensions=[
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    # Clients' frames are small commands: no inflate context kept per socket.
                    client_no_context_takeover=True,
                    server_max_window_bits=self.window_bits,
                    client_max_window_bits=self.window_bits,
                    compress_settings={"memLevel": 5},
                )
            ],
            max_size=self.config.ws_max_size,
            logger=self.conn.logger,
        )


class RawSocket:
    """A WebSocket as uvicorn's protocol object holds it."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol):
        self._protocol = protocol

    @classmethod
    def behind(cls, send: Any) -> RawSocket | None:
        """The socket an ASGI `send` writes to, when it is uvicorn's sans-I/O protocol's own
        (its bound method); None for any other server or protocol."""
        protocol = getattr(send, "__self__", None)
        return cls(protocol) if isinstance(protocol, WebSocketsSansIOProtocol) else None

    @property
    def conn(self) -> ServerProtocol:
        return self._protocol.conn

    def offer(self, data: bytes, bound: int) -> int:
        """Write `data` now: its size, or 0 if the socket is closing, or -1 (nothing written)
        if its send buffer already holds more than `bound` bytes."""
        protocol = self._protocol
        transport = protocol.transport
        if transport.is_closing() or protocol.close_sent:
            return 0
        if transport.get_write_buffer_size() > bound:
            return -1
        transport.write(data)
        return len(data)

    def close(self, code: int, reason: str, grace: float) -> bool:
        """Queue a close frame now, as uvicorn does for `websocket.close` but without awaiting a
        writable socket; a peer that has not answered within `grace` seconds is cut off.
        False if the socket was closing already."""
        protocol = self._protocol
        if protocol.close_sent or protocol.transport.is_closing():
            return False
        try:
            protocol.conn.send_close(code, reason)
            protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        except InvalidState:
            return False
        protocol.close_sent = True
        loop = asyncio.get_running_loop()
        protocol.close_timer = loop.call_later(grace, protocol.transport.abort)
        return True


REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


class LimitedHttpProtocol(HttpToolsProtocol):
    """What one HTTP client may make the gateway hold: the request head's size and header
    count, and the time to send a whole request. uvicorn bounds none of them on its httptools
    protocol (its `h11_max_incomplete_event_size` only applies to h11), so a 16 MB header was
    buffered and a half-sent request was held open for as long as its client liked.

    This is uvicorn's httptools protocol with those bounds: a head over
    `gateway_max_header_bytes` or with more than `gateway_max_headers` fields gets 431, a request
    not fully received `gateway_request_read_seconds` after its first byte (or after the
    connection opened) gets 408, and the connection closes. The protocol's names it leans on are
    in `RELIES_ON`. Behind a proxy, the proxy's own limits come first (docs/security.md).
    """

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
        if not self._in_head and cycle is not None and cycle.response_started:
            # Answered before its body came (a 401, a 413): one response per request, so no
            # 408 after it; the connection just closes.
            self._refused = True
            self.transport.close()
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
