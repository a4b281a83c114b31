"""Server frames encoded once for every socket, plain and compressed.

A frame the hub fans out goes to thousands of sockets, so it is serialized once. Most of the
cost of sending it is its bytes (copied into each socket, carried over TCP), and batched chat
JSON shrinks several times under deflate; but permessage-deflate (RFC 7692) as servers run it
compresses per connection, with a context per socket, which is why fan-out servers turn it off.
Here a message is compressed once, as a self-contained deflate stream (a fresh compressor,
ended with a sync flush), which any peer that negotiated the extension can inflate, whatever
its context: back-references stay inside the message. The gateway negotiates
`server_no_context_takeover` (`gateway.uvicorn_private.DeflateProtocol`), so nothing it sends
through uvicorn ever relies on context either, and a window of `WINDOW_BITS`; a socket that
negotiated a smaller window, or no compression, gets the plain frame.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.server import ServerProtocol

from gateway.uvicorn_private import DeflateProtocol

WINDOW_BITS = DeflateProtocol.window_bits
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
