"""Load-generator pieces for the gateway benchmark (loopback only, bounded in count and time):
cheap WebSocket subscribers that count frames without decoding them, probes that decode every
frame to time chat messages end to end, and paced HTTP publishers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import websockets
from websockets.frames import Frame, Opcode


@dataclass
class Counts:
    frames: int = 0
    bytes: int = 0
    closed: int = 0


def masked_text(document: dict[str, Any]) -> bytes:
    return Frame(Opcode.TEXT, json.dumps(document).encode()).serialize(mask=True)


DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"


class CountingSubscriber(asyncio.Protocol):
    """Upgrades (offering compression, as browsers do), subscribes, then counts frames by their
    headers only (payloads are skipped, compressed or not)."""

    def __init__(
        self, host: str, port: int, subscribe: bytes, counts: Counts, deflate: bool = True
    ):
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{DEFLATE_OFFER if deflate else ''}\r\n"
        ).encode()
        self.subscribe = subscribe
        self.counts = counts
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._head = b""
        self._skip = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport = self.transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.counts.closed += 1
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed before the upgrade"))

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            data, self._head = self._head[end + 4 :], b""
            assert self.transport is not None
            self.transport.write(self.subscribe)
            self.upgraded.set_result(None)
        self.counts.bytes += len(data)
        position = 0
        size = len(data)
        while position < size:
            if self._skip:
                step = min(self._skip, size - position)
                position += step
                self._skip -= step
                continue
            header = self._head + data[position : position + 10]
            length = header[1] & 0x7F if len(header) >= 2 else -1
            need = 2 if length < 126 else 4 if length == 126 else 10
            if length < 0 or len(header) < need:
                self._head = header
                return
            if length == 126:
                length = int.from_bytes(header[2:4], "big")
            elif length == 127:
                length = int.from_bytes(header[2:10], "big")
            position += need - len(self._head)
            self._head = b""
            self._skip = length
            self.counts.frames += 1


@dataclass
class Probe:
    """A fully decoding subscriber: the latency of every chat message it sees."""

    latencies: list[float] = field(default_factory=list)  # sent over HTTP -> on this socket
    from_log: list[float] = field(default_factory=list)  # accepted by the gateway -> socket
    arrivals: dict[str, float] | None = None  # text -> when it reached this socket, if kept
    messages: int = 0

    async def run(
        self, url: str, stream_id: str, ready: asyncio.Event, stop: asyncio.Event
    ) -> None:
        async with websockets.connect(url, compression="deflate", max_size=None) as socket:
            await socket.recv()
            await socket.send(
                json.dumps({"op": "subscribe", "stream": stream_id, "channels": ["chat"]})
            )
            await socket.recv()
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(socket.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                for notice in json.loads(raw).get("notices", ()):
                    text = notice["value"].get("text", "")
                    if notice["kind"] == "message" and text.startswith("bench "):
                        self.latencies.append(now - float(text.split()[2]))
                        self.from_log.append(now - notice["value"]["at"] / 1000)
                        self.messages += 1
                        if self.arrivals is not None:
                            self.arrivals[text] = now


class RawHttp:
    """One keep-alive HTTP/1.1 connection speaking just enough to POST JSON and read the
    status: httpx costs more CPU per request than the gateway does, on the same two cores."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _paced(
    index: int, workers: int, rate: float, started: float, deadline: float
) -> AsyncIterator[int]:
    """Worker `index`'s sends (numbered), each at its time in a schedule of `rate` a second
    shared by `workers`; a worker behind its schedule sends at once."""
    sent = 0
    while True:
        due = started + (index + sent * workers) / rate
        if due > deadline or time.monotonic() > deadline:
            return
        pause = due - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        yield sent
        sent += 1


async def publish(
    base: str, stream_id: str, tokens: list[str], rate: float, seconds: float, workers: int = 32
) -> dict[str, Any]:
    """Chat messages at `rate` per second for `seconds` through HTTP, spread over users; a
    worker that falls behind its schedule sends as fast as it can (so `rate` high = flat out)."""
    host, port, prefix = split_url(base)
    accepted = refused = 0
    started = time.monotonic()
    deadline = started + seconds

    async def worker(index: int) -> None:
        nonlocal accepted, refused
        connection = RawHttp(host, port)
        try:
            async for sent in _paced(index, workers, rate, started, deadline):
                token = tokens[(index + sent * workers) % len(tokens)]
                text = f"bench {index}-{sent} {time.time():.6f}"
                body = json.dumps({"text": text}).encode()
                status = await connection.post(f"{prefix}/streams/{stream_id}/chat", body, token)
                if status == 202:
                    accepted += 1
                else:
                    refused += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker(n) for n in range(workers)))
    elapsed = time.monotonic() - started
    return {"accepted": accepted, "refused": refused, "seconds": round(elapsed, 2)}


async def publish_over_sockets(
    ws_url: str, stream_id: str, tokens: list[str], rate: float, seconds: float, workers: int = 32
) -> dict[str, Any]:
    """As `publish`, but each publisher is a signed-in socket sending `send` frames (the chat
    path clients use) and waiting for each ack before its next message."""
    accepted = refused = 0
    run = uuid.uuid4().hex[:8]  # frame ids are idempotency keys: new ones for every run
    started = time.monotonic()
    deadline = started + seconds

    async def worker(index: int) -> None:
        nonlocal accepted, refused
        url = f"{ws_url}?access_token={tokens[index % len(tokens)]}"
        async with websockets.connect(url, compression=None, max_size=None) as socket:
            await socket.recv()  # welcome
            async for sent in _paced(index, workers, rate, started, deadline):
                frame = {
                    "op": "send",
                    "id": f"bench-{run}-{index}-{sent}",
                    "write": "chat.send",
                    "stream": stream_id,
                    "body": {"text": f"bench {index}-{sent} {time.time():.6f}"},
                }
                await socket.send(json.dumps(frame))
                while True:
                    answer = json.loads(await socket.recv())
                    if answer.get("type") in ("ack", "error") and answer.get("id") == frame["id"]:
                        break
                if answer["type"] == "ack":
                    accepted += 1
                else:
                    refused += 1

    await asyncio.gather(*(worker(n) for n in range(workers)))
    elapsed = time.monotonic() - started
    return {"accepted": accepted, "refused": refused, "seconds": round(elapsed, 2)}


def split_url(base: str) -> tuple[str, int, str]:
    """("127.0.0.1", 8000, "/api/v1") for "http://127.0.0.1:8000/api/v1"."""
    address, _, prefix = base.removeprefix("http://").partition("/")
    host, _, port = address.partition(":")
    return host, int(port), "/" + prefix


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
