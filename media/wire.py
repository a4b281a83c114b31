"""Messages between the media process and its fan-out processes (media/fanout.py), over one
Unix socket pair each: a 4-byte big-endian length, then the message.

- an encoded frame, sent once per fan-out process whatever its viewers: `F` (video) or `A`
  (audio), the stream id's length (1 byte) and id, the slot on the stage (1 byte: 0 is the
  host, 1-3 guests), the RTP timestamp (8 bytes), the frame as the ingest reassembled it;
- anything else, `J` and a JSON object with an `op` (requests carry an `id` their reply
  repeats).
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from typing import Any

VIDEO, AUDIO, CONTROL = b"F", b"A", b"J"
_LENGTH = struct.Struct("!I")
_FRAME = struct.Struct("!cB")
_SLOT_TIME = struct.Struct("!BQ")


@dataclass(frozen=True)
class Frame:
    kind: str  # "video" | "audio"
    stream_id: str
    slot: int
    timestamp: int
    data: bytes


def frame_message(kind: str, stream_id: str, slot: int, timestamp: int, data: bytes) -> bytes:
    sid = stream_id.encode("utf-8")
    tag = VIDEO if kind == "video" else AUDIO
    head = _FRAME.pack(tag, len(sid)) + sid + _SLOT_TIME.pack(slot, timestamp)
    return _LENGTH.pack(len(head) + len(data)) + head + data


def control_message(op: str, **fields: Any) -> bytes:
    body = CONTROL + json.dumps({"op": op, **fields}).encode("utf-8")
    return _LENGTH.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Frame | dict[str, Any]:
    """The next message; `asyncio.IncompleteReadError` once the other side is gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    body = await reader.readexactly(length)
    if body[:1] == CONTROL:
        message: dict[str, Any] = json.loads(body[1:])
        return message
    tag, sid_length = _FRAME.unpack_from(body)
    at = _FRAME.size + sid_length
    stream_id = body[_FRAME.size : at].decode("utf-8")
    slot, timestamp = _SLOT_TIME.unpack_from(body, at)
    kind = "video" if tag == VIDEO else "audio"
    return Frame(kind, stream_id, slot, timestamp, body[at + _SLOT_TIME.size :])
