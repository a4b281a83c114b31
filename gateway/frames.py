"""Server frames encoded once for every socket, plain and compressed.

A frame the hub fans out goes to thousands of sockets, so it is serialized once. Most of the
cost of sending it is its bytes (copied into each socket, carried over TCP), and batched chat
JSON shrinks several times under deflate; but permessage-deflate (RFC 7692) as servers run it
compresses per connection, with a context per socket, which is why fan-out servers turn it off.
Here a message is compressed once, as a self-contained deflate stream (a fresh compressor,
ended with a sync flush), which any peer that negotiated the extension can inflate, whatever
its context: back-references stay inside the message. The gateway negotiates
`server_no_context_takeover` (`DeflateProtocol`), so nothing it sends through uvicorn ever
relies on context either, and a window of `WINDOW_BITS`; a socket that negotiated a smaller
window, or no compression, gets the plain frame.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.server import ServerProtocol

WINDOW_BITS = 12  # uvicorn's choice: 4 KiB of window per socket
LEVEL = 6
TEXT = 0x81  # FIN, text
COMPRESSED_TEXT = 0xC1  # FIN, RSV1 (compressed), text
SYNC_TAIL = b"\x00\x00\xff\xff"  # ends every sync flush; RFC 7692 drops it from the message


class Wire:
    """A JSON document as an unmasked text frame, and as its compressed frame on first use."""

    __slots__ = ("_deflated", "payload", "plain")

    def __init__(self, document: dict[str, Any]):
        self.payload = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        self.plain = frame(TEXT, self.payload)
        self._deflated: bytes | None = None

    @property
    def deflated(self) -> bytes:
        if self._deflated is None:
            compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -WINDOW_BITS)
            data = compressor.compress(self.payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
            self._deflated = frame(COMPRESSED_TEXT, data.removesuffix(SYNC_TAIL))
        return self._deflated


def frame(first_byte: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes((first_byte, size))
    elif size < 65_536:
        head = bytes((first_byte, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first_byte, 127)) + size.to_bytes(8, "big")
    return head + payload


def takes_deflated(conn: ServerProtocol) -> bool:
    """Whether the socket negotiated permessage-deflate with room for our window."""
    return any(
        isinstance(extension, PerMessageDeflate)
        and (extension.local_max_window_bits or 15) >= WINDOW_BITS
        for extension in conn.extensions
    )


class DeflateProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, offering permessage-deflate without context
    takeover (uvicorn's own offer keeps the server's, which shared frames would break)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = ServerProtocol(
            extensions=[
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    # Clients' frames are small commands: no inflate context kept per socket.
                    client_no_context_takeover=True,
                    server_max_window_bits=WINDOW_BITS,
                    client_max_window_bits=WINDOW_BITS,
                    compress_settings={"memLevel": 5},
                )
            ],
            max_size=self.config.ws_max_size,
            logger=self.conn.logger,
        )
