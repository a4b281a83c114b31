"""Load-generator pieces for the fan-out benchmarks (loopback only, bounded in count and time):
lean WebSocket subscribers that parse frame headers only, except on sampled sockets, which
time every chat message they carry; paced publishers over HTTP and over sockets.

Every chat message the load generator sends has the text `bench <id> <epoch seconds>`, so a
sampled socket times a message by finding that text in a frame, whatever the system's frame
format (livefold batches, the `websockets` peer's batches, Centrifugo pushes)."""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.frames import Frame, Opcode

BENCH_TEXT = re.compile(rb"bench (\S+?) (\d+\.\d+)")
SMALL_FRAME = 64  # bytes: read whole even on unsampled sockets (pings, Centrifugo's `{}`)


def bench_text(ident: str) -> str:
    return f"bench {ident} {time.time():.6f}"


@dataclass
class Counts:
    frames: int = 0
    bytes: int = 0
    closed: int = 0


@dataclass
class Samples:
    """What the sampled sockets of one process saw: (sent at, latency) pairs, and for the probe
    socket, when each message id arrived."""

    since: float = float("inf")  # messages sent before this are not counted (snapshots)
    pairs: array.array[float] = field(default_factory=lambda: array.array("d"))
    arrivals: dict[str, float] = field(default_factory=dict)

    def reset(self, since: float) -> None:
        self.since = since
        self.pairs = array.array("d")
        self.arrivals = {}


def masked_text(document: dict[str, Any] | bytes) -> bytes:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Frame(Opcode.TEXT, payload).serialize(mask=True)


DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
PING_REPLY = masked_text(b"{}")  # Centrifugo's application-level ping is answered in kind


class Subscriber(asyncio.Protocol):
    """Upgrades, sends its `hello` frames (connect, subscribe), then reads frame headers only;
    it answers pings (WebSocket pings and Centrifugo's `{}`). A sampled one (`samples` given)
    reads every payload and times the chat messages in it (`probe`: keeps arrivals by id)."""

    def __init__(
        self,
        host: str,
        port: int,
        hello: list[bytes],
        counts: Counts,
        path: str = "/ws",
        deflate: bool = False,
        samples: Samples | None = None,
        probe: bool = False,
    ):
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{DEFLATE_OFFER if deflate else ''}\r\n"
        ).encode()
        self.hello = hello
        self.counts = counts
        self.samples = samples
        self.probe = probe
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._head = b""
        self._skip = 0  # payload bytes still to skip
        self._want = 0  # payload bytes still to read into _payload
        self._opcode = 0
        self._payload = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

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
            if not self._head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(self._head[:end].decode()))
                return
            data, self._head = self._head[end + 4 :], b""
            assert self.transport is not None
            self.transport.write(b"".join(self.hello))
            self.upgraded.set_result(None)
        self.counts.bytes += len(data)
        position, size = 0, len(data)
        while position < size:
            if self._skip:
                step = min(self._skip, size - position)
                position += step
                self._skip -= step
                continue
            if self._want:
                step = min(self._want, size - position)
                self._payload += data[position : position + step]
                position += step
                self._want -= step
                if not self._want:
                    self._on_payload(bytes(self._payload))
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
            self._opcode = header[0] & 0x0F
            self.counts.frames += 1
            if self.samples is not None or length <= SMALL_FRAME:
                self._payload = bytearray()
                self._want = length
                if not length:
                    self._on_payload(b"")
            else:
                self._skip = length

    def _on_payload(self, payload: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if self._opcode == Opcode.PING.value:
            transport.write(Frame(Opcode.PONG, payload).serialize(mask=True))
            return
        if payload == b"{}":
            transport.write(PING_REPLY)
            return
        samples = self.samples
        if samples is None or self._opcode != Opcode.TEXT.value:
            return
        now = time.time()
        since, pairs = samples.since, samples.pairs
        for ident, sent_text in BENCH_TEXT.findall(payload):
            sent = float(sent_text)
            if sent >= since:
                pairs.append(sent)
                pairs.append(now - sent)
                if self.probe:
                    samples.arrivals[ident.decode()] = now


class RawHttp:
    """One keep-alive HTTP/1.1 connection speaking just enough to POST JSON and read the
    status: httpx costs more CPU per request than the servers measured do, on the same cores."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}"
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
    host: str,
    port: int,
    path: str,
    headers: list[dict[str, str]],
    body_of: Any,
    rate: float,
    seconds: float,
    workers: int = 32,
    keyed: bool = False,
    latencies: list[float] | None = None,
) -> dict[str, Any]:
    """Chat messages at `rate` per second for `seconds`, POSTed over `workers` connections
    (worker n sends `headers[n % len(headers)]`; `body_of(text)` is the body); a worker that
    falls behind its schedule sends as fast as it can (so `rate` high = flat out). `keyed`:
    each request with an Idempotency-Key of its own (gateway/resends.py checks the log).
    `latencies`: each accepted request's seconds from sending to its answer go there."""
    accepted = refused = 0
    run = os.urandom(4).hex()
    started = time.monotonic()
    deadline = started + seconds

    async def worker(index: int) -> None:
        nonlocal accepted, refused
        connection = RawHttp(host, port)
        try:
            async for sent in _paced(index, workers, rate, started, deadline):
                body = json.dumps(body_of(bench_text(f"{index}-{sent}"))).encode()
                sending = headers[index % len(headers)]
                if keyed:
                    sending = {**sending, "Idempotency-Key": f"{run}-{index}-{sent}"}
                posted = time.perf_counter()
                status = await connection.post(path, body, sending)
                if 200 <= status < 300:
                    accepted += 1
                    if latencies is not None:
                        latencies.append(time.perf_counter() - posted)
                else:
                    refused += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker(n) for n in range(workers)))
    elapsed = time.monotonic() - started
    return {"accepted": accepted, "refused": refused, "seconds": round(elapsed, 2)}


async def publish_over_sockets(
    urls: list[str], stream_id: str, rate: float, seconds: float, window: int = 48
) -> dict[str, Any]:
    """Chat messages at `rate` per second for `seconds` as `send` frames, spread over one
    socket per url (each signed in, or not, by its url); a socket does not wait for each ack
    before its next message, but holds at most `window` unacknowledged (the gateway refuses
    more than 64 waiting writes per socket)."""
    import websockets

    accepted = refused = 0
    run = os.urandom(4).hex()  # frame ids are idempotency keys: new ones for every run
    started = time.monotonic()
    deadline = started + seconds

    async def worker(index: int) -> None:
        nonlocal accepted, refused
        room = asyncio.Semaphore(window)
        async with websockets.connect(urls[index], compression=None, max_size=None) as socket:
            await socket.recv()  # welcome

            async def read_acks() -> None:
                nonlocal accepted, refused
                async for raw in socket:
                    answer = json.loads(raw)
                    if answer.get("type") in ("ack", "error"):
                        if answer["type"] == "ack":
                            accepted += 1
                        else:
                            refused += 1
                        room.release()

            reader = asyncio.create_task(read_acks())
            async for sent in _paced(index, len(urls), rate, started, deadline):
                await room.acquire()
                frame = {
                    "op": "send",
                    "id": f"bench-{run}-{index}-{sent}",
                    "write": "chat.send",
                    "stream": stream_id,
                    "body": {"text": bench_text(f"{run}-{index}-{sent}")},
                }
                await socket.send(json.dumps(frame))
            for _ in range(window):  # every answer is in, or 10 s passed
                patience = max(0.01, deadline + 10 - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(room.acquire(), patience)
            reader.cancel()

    await asyncio.gather(*(worker(n) for n in range(len(urls))))
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
