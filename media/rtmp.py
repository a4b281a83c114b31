"""An RTMP server for publishing only (OBS, ffmpeg): `rtmp://<host>:<port>/live/<stream key>`.

It speaks the part of RTMP an encoder needs (Adobe's RTMP specification 1.0): the plain
handshake, the chunk stream (chunk sizes, extended timestamps, acknowledgements), the
`connect` / `releaseStream` / `FCPublish` / `createStream` / `publish` commands, then audio,
video and `@setDataFrame` messages, handed on as FLV tag bodies with their timestamps. The key
is checked at `publish`, before any media is accepted: a refused publisher gets
`NetStream.Publish.BadName` (or `...Publish.Denied`) and is disconnected. Playing is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from media import amf0

log = logging.getLogger(__name__)
HANDSHAKE_SIZE = 1536
APP = "live"
OUR_CHUNK_SIZE = 4096
WINDOW = 2_500_000
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF3, COMMAND_AMF3, DATA, COMMAND = 8, 9, 15, 17, 18, 20
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
HANDSHAKE_SECONDS = 10.0  # from accepting the socket to `publish`
LINGER_SECONDS = 2.0  # after a refusal or an unpublish, for the client to read and leave


class Refused(Exception):
    """A publish that may not go ahead; `code` is the NetStream status code sent back."""

    def __init__(self, reason: str, code: str = "NetStream.Publish.Denied"):
        super().__init__(reason)
        self.code = code


class ProtocolError(Exception):
    pass


class Sink(Protocol):
    """Where an accepted publisher's media goes."""

    def on_metadata(self, metadata: dict[str, Any]) -> None: ...

    def on_media(self, kind: int, timestamp: int, body: bytes) -> None: ...

    async def on_end(self, why: str) -> None:
        """`why` is "ended" (the publisher unpublished) or "disconnected" (the socket closed,
        failed or stalled)."""


# (stream key, client address, how to disconnect the publisher) -> where its media go
OnPublish = Callable[[str, str, Callable[[], None]], Awaitable[Sink]]


@dataclass
class _ChunkStream:
    timestamp: int = 0
    delta: int = 0
    length: int = 0
    kind: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytes = b""


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_publish: OnPublish,
        stall_seconds: float,
    ):
        self.reader, self.writer = reader, writer
        self.on_publish = on_publish
        self.stall_seconds = stall_seconds
        peer = writer.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.chunk_size = 128
        self.streams: dict[int, _ChunkStream] = {}
        self.received = 0
        self.acknowledged = 0
        self.window = 0  # the publisher's acknowledgement window; 0 until it sets one
        self.sink: Sink | None = None
        self.app = ""
        self.out_chunk_size = 128

    async def run(self) -> None:
        started = time.monotonic()
        why = "disconnected"
        try:
            await asyncio.wait_for(self._handshake(), HANDSHAKE_SECONDS)
            while True:
                wait = self.stall_seconds
                if self.sink is None:
                    wait = max(0.1, HANDSHAKE_SECONDS - (time.monotonic() - started))
                kind, timestamp, body = await asyncio.wait_for(self._message(), wait)
                if await self._handle(kind, timestamp, body):
                    why = "ended"
                    await self._linger()  # it still sends deleteStream: a reset fails its close
                    return
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as error:
            stage = "publishing" if self.sink else "before publishing"
            log.info("rtmp %s left %s: %s", self.client, stage, type(error).__name__)
        except (ProtocolError, amf0.AmfError) as error:
            log.warning("rtmp %s broke the protocol: %s", self.client, error)
        except Refused:
            # The client may still be writing: closing now would reset the connection before
            # it reads why it was refused. Let it read and leave first.
            await self._linger()
        finally:
            self.writer.close()
            if self.sink is not None:
                await self.sink.on_end(why)

    async def _linger(self) -> None:
        """Wait (a while) for the client to close its side, reading what it still sends."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.reader.read(), LINGER_SECONDS)

    async def _handshake(self) -> None:
        c0c1 = await self.reader.readexactly(1 + HANDSHAKE_SIZE)
        if c0c1[0] != 3:
            raise ProtocolError(f"RTMP version {c0c1[0]}, not 3 (RTMPE/RTMPT are not served)")
        # S1's version bytes are zero: clients then skip the digest check (plain handshake).
        s1 = struct.pack(">I", int(time.monotonic() * 1000) & 0xFFFFFFFF) + bytes(4)
        self.writer.write(b"\x03" + s1 + os.urandom(HANDSHAKE_SIZE - 8) + c0c1[1:])
        await self.writer.drain()
        await self.reader.readexactly(HANDSHAKE_SIZE)  # C2, the echo of S1

    async def _read(self, size: int) -> bytes:
        data = await self.reader.readexactly(size)
        self.received += size
        if self.window and self.received - self.acknowledged >= self.window:
            self.acknowledged = self.received
            self._send(2, ACK, struct.pack(">I", self.received & 0xFFFFFFFF))
        return data

    async def _message(self) -> tuple[int, int, bytes]:
        """The next complete message: (type, timestamp in ms, body)."""
        while True:
            first = (await self._read(1))[0]
            fmt, chunk_stream_id = first >> 6, first & 0x3F
            if chunk_stream_id == 0:
                chunk_stream_id = 64 + (await self._read(1))[0]
            elif chunk_stream_id == 1:
                low, high = await self._read(2)
                chunk_stream_id = 64 + low + high * 256
            stream = self.streams.get(chunk_stream_id)
            if stream is None:
                if fmt != 0:
                    raise ProtocolError(f"chunk stream {chunk_stream_id} starts with type {fmt}")
                stream = self.streams[chunk_stream_id] = _ChunkStream()
            starting = not stream.buffer
            if fmt <= 2:
                header = await self._read((11, 7, 3)[fmt])
                stamp = int.from_bytes(header[0:3], "big")
                stream.extended = stamp == 0xFFFFFF
                if fmt <= 1:
                    stream.length = int.from_bytes(header[3:6], "big")
                    stream.kind = header[6]
                if fmt == 0:
                    stream.stream_id = int.from_bytes(header[7:11], "little")
                if stream.extended:
                    stamp = int.from_bytes(await self._read(4), "big")
                if fmt == 0:
                    stream.timestamp, stream.delta = stamp, 0
                else:
                    stream.delta = stamp
                    stream.timestamp += stamp
            else:
                if stream.extended:
                    await self._read(4)  # repeats the extended timestamp
                if starting:
                    stream.timestamp += stream.delta
            if stream.length > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"a {stream.length}-byte message is too large")
            size = min(self.chunk_size, stream.length - len(stream.buffer))
            stream.buffer += await self._read(size)
            if len(stream.buffer) >= stream.length:
                body, stream.buffer = stream.buffer, b""
                return stream.kind, stream.timestamp & 0xFFFFFFFF, body

    async def _handle(self, kind: int, timestamp: int, body: bytes) -> bool:
        """Act on one message; True once the publisher has unpublished."""
        if kind in (AUDIO, VIDEO):
            if self.sink is None:
                raise ProtocolError("media before publish")
            if body:
                self.sink.on_media(kind, timestamp, body)
        elif kind == SET_CHUNK_SIZE:
            size = int.from_bytes(body[:4], "big") & 0x7FFFFFFF
            if not 1 <= size <= MAX_MESSAGE_BYTES:
                raise ProtocolError(f"chunk size {size}")
            self.chunk_size = size
        elif kind == WINDOW_ACK_SIZE:
            self.window = int.from_bytes(body[:4], "big")
        elif kind == ABORT:
            stream = self.streams.get(int.from_bytes(body[:4], "big"))
            if stream is not None:
                stream.buffer = b""
        elif kind in (DATA, DATA_AMF3):
            values = amf0.decode_all(body[1:] if kind == DATA_AMF3 else body)
            if values[:1] == ["@setDataFrame"]:
                values = values[1:]
            metadata = values[1] if values[:1] == ["onMetaData"] and len(values) > 1 else None
            if self.sink is not None and isinstance(metadata, dict):
                self.sink.on_metadata(metadata)
        elif kind in (COMMAND, COMMAND_AMF3):
            values = amf0.decode_all(body[1:] if kind == COMMAND_AMF3 else body)
            if len(values) >= 2 and isinstance(values[0], str):
                return await self._command(values[0], values[1], values[2:])
        return False

    async def _command(self, name: str, transaction: Any, arguments: list[Any]) -> bool:
        if name == "connect":
            options = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
            self.app = str(options.get("app", "")).strip("/")
            self._send(2, WINDOW_ACK_SIZE, struct.pack(">I", WINDOW))
            self._send(2, PEER_BANDWIDTH, struct.pack(">IB", WINDOW, 2))
            self._send(2, SET_CHUNK_SIZE, struct.pack(">I", OUR_CHUNK_SIZE))
            self.out_chunk_size = OUR_CHUNK_SIZE
            if self.app != APP:
                self._command_reply(
                    "_error",
                    transaction,
                    None,
                    _status(
                        "error",
                        "NetConnection.Connect.Rejected",
                        f"publish to rtmp://<host>/{APP}/<stream key>, not to app {self.app!r}",
                    ),
                )
                await self.writer.drain()
                raise Refused(f"app {self.app!r}")
            self._command_reply(
                "_result",
                transaction,
                {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
                {
                    **_status("status", "NetConnection.Connect.Success", "Connected."),
                    "objectEncoding": 0,
                },
            )
        elif name == "createStream":
            self._command_reply("_result", transaction, None, 1)
        elif name in ("releaseStream", "FCPublish", "FCUnpublish"):
            self._command_reply("_result", transaction, None, None)
            return name == "FCUnpublish" and self.sink is not None
        elif name == "publish":
            await self._publish(str(arguments[1]) if len(arguments) > 1 else "")
        elif name in ("play", "play2"):
            self._on_status("error", "NetStream.Play.Failed", "this server only takes publishers")
            await self.writer.drain()
            raise Refused("play")
        elif name in ("deleteStream", "closeStream"):
            return self.sink is not None
        await self.writer.drain()
        return False

    async def _publish(self, stream_name: str) -> None:
        if self.sink is not None:
            raise ProtocolError("publish twice on one connection")
        key = stream_name.split("?", 1)[0]
        try:
            self.sink = await self.on_publish(key, self.client, self.writer.close)
        except Refused as refused:
            self._on_status("error", refused.code, str(refused))
            await self.writer.drain()
            raise
        self._on_status("status", "NetStream.Publish.Start", "Publishing.")

    def _command_reply(self, name: str, transaction: Any, *values: Any) -> None:
        self._send(3, COMMAND, amf0.encode(name, transaction, *values))

    def _on_status(self, level: str, code: str, description: str) -> None:
        self._send(
            5,
            COMMAND,
            amf0.encode("onStatus", 0, None, _status(level, code, description)),
            stream_id=1,
        )

    def _send(self, chunk_stream_id: int, kind: int, body: bytes, stream_id: int = 0) -> None:
        header = bytes([chunk_stream_id]) + bytes(3) + len(body).to_bytes(3, "big")
        header += bytes([kind]) + stream_id.to_bytes(4, "little")
        size = self.out_chunk_size
        parts = [header + body[:size]]
        parts += [
            bytes([0xC0 | chunk_stream_id]) + body[at : at + size]
            for at in range(size, len(body), size)
        ]
        self.writer.write(b"".join(parts))


def _status(level: str, code: str, description: str) -> dict[str, Any]:
    return {"level": level, "code": code, "description": description}


async def serve(
    host: str, port: int, on_publish: OnPublish, stall_seconds: float
) -> asyncio.Server:
    """Listen for publishers; each connection runs until it unpublishes, leaves or stalls."""

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(reader, writer, on_publish, stall_seconds).run()

    return await asyncio.start_server(connected, host, port)
