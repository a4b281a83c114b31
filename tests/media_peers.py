"""Real WebRTC peers for the media tests: an aiortc publisher sending a synthetic video (each
frame paints its index) over WHIP, an aiortc viewer receiving over WHEP, and the media process."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import av
import httpx
import numpy as np
from aiortc import (
    AudioStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from infra.service import RunningService, free_port
from livefold.settings import Settings
from media.service import local_url, service
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.events import Event
from streams.producer import EventProducer
from tests.gateways import Running, Tokens
from tests.servers import log_to

WIDTH, HEIGHT, FPS = 320, 240, 30
VIDEO_CLOCK = 90_000
INDEXES, INDEX_STEP = 16, 16  # the index mod 16 as grey, in steps coarse enough for VP8
SDP = {"Content-Type": "application/sdp"}
STREAMER = "streamer-mia"


class NumberedFrames(VideoStreamTrack):
    """A test pattern at up to 30 fps whose brightness encodes the frame index; `paused` stops
    it sending (a stalled encoder). Each frame is stamped with the time it was made, as a
    camera's capture time: a machine too loaded for 30 fps sends fewer frames, not a slower
    clock (a recording is as long as its timestamps say)."""

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.paused = False
        self._started: float | None = None
        self._due = 0.0  # when the next frame is made
        self._pts = -1

    async def recv(self) -> av.VideoFrame:
        while self.paused:
            await asyncio.sleep(0.05)
        if self._started is None:
            self._started = self._due = time.monotonic()
        await asyncio.sleep(max(0.0, self._due - time.monotonic()))
        made = time.monotonic()
        self._due = max(self._due + 1 / FPS, made)  # late: no burst to catch up
        picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        picture[HEIGHT // 2 :, WIDTH // 2 :, :] = (self.index % INDEXES) * INDEX_STEP
        picture[: HEIGHT // 2, : WIDTH // 2, 1] = 255
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        self._pts = max(self._pts + 1, round((made - self._started) * VIDEO_CLOCK))
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.index += 1
        return frame


def peer(bundle_policy: RTCBundlePolicy = RTCBundlePolicy.BALANCED) -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=bundle_policy))


async def offer_of(connection: RTCPeerConnection) -> str:
    await connection.setLocalDescription(await connection.createOffer())
    return str(connection.localDescription.sdp)


async def post_offer(
    client: httpx.AsyncClient, url: str, offer: str, key: str | None = None
) -> httpx.Response:
    headers = dict(SDP) if key is None else {**SDP, "Authorization": f"Bearer {key}"}
    return await client.post(url, content=offer, headers=headers)


class Negotiating(Protocol):
    async def offer(self) -> str: ...

    async def accept(self, answer: str) -> None: ...


async def connect(
    http: httpx.AsyncClient, url: str, peer: Negotiating, key: str | None = None
) -> httpx.Response:
    """POST the peer's offer to a WHIP or WHEP `url`; the answer must be 201, and the peer
    takes it."""
    answer = await post_offer(http, url, await peer.offer(), key)
    assert answer.status_code == 201, answer.text
    await peer.accept(answer.text)
    return answer


class Publisher:
    def __init__(self, audio: bool = False) -> None:
        self.track = NumberedFrames()
        self.peer = peer()
        self.peer.addTransceiver(self.track, direction="sendonly")
        if audio:  # silence, encoded as Opus
            self.peer.addTransceiver(AudioStreamTrack(), direction="sendonly")

    async def offer(self) -> str:
        return await offer_of(self.peer)

    async def accept(self, answer: str) -> None:
        await self.peer.setRemoteDescription(RTCSessionDescription(answer, "answer"))


class Viewer:
    def __init__(self) -> None:
        self.peer = peer()
        self.peer.addTransceiver("video", direction="recvonly")
        self.track: Any = None

        @self.peer.on("track")
        def on_track(track: Any) -> None:
            self.track = track

    async def offer(self) -> str:
        return await offer_of(self.peer)

    async def accept(self, answer: str) -> None:
        await self.peer.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def frames(self, count: int, timeout: float = 30.0) -> list[av.VideoFrame]:
        """The next `count` decoded frames."""
        received: list[av.VideoFrame] = []
        async with asyncio.timeout(timeout):
            while self.track is None:
                await asyncio.sleep(0.02)
            while len(received) < count:
                received.append(await self.track.recv())
        return received


def painted_index(frame: av.VideoFrame) -> int:
    """The index NumberedFrames painted (mod 16), read back after VP8's loss."""
    grey = frame.to_ndarray(format="gray")[HEIGHT // 2 + 8 :, WIDTH // 2 + 8 :]
    return round(float(grey.mean()) / INDEX_STEP) % INDEXES


def media_service(
    settings: Settings, name: str = "media", **changes: Any
) -> tuple[Settings, RunningService]:
    """A media process (not started yet) on ports of its own, logging under the stack's logs,
    and its settings."""
    own = settings.model_copy(
        update={"media_port": free_port(), "rtmp_port": free_port(), **changes}
    )
    spec = service(own, name)
    return own, RunningService(spec, log_to(settings.data_dir / "logs")(spec))


@contextlib.contextmanager
def media_process(settings: Settings, **changes: Any) -> Iterator[tuple[Settings, str]]:
    own, handle = media_service(settings, **changes)
    handle.start()
    try:
        yield own, local_url(own)
    finally:
        handle.stop()


def with_client(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in its own event loop with an HTTP client (its `http` argument)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        async def body() -> None:
            async with httpx.AsyncClient(timeout=30.0) as http:
                await test(*args, http=http, **kwargs)

        asyncio.run(body())

    parameters = [p for p in inspect.signature(test).parameters.values() if p.name != "http"]
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return run


def logged(settings: Settings, domain: str, key: str) -> list[Event]:
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    try:
        records = read_to_end(settings, codec, [event_topic(domain)], deadletter)
        return [record.event for record in records if record.event.stream_id == key]
    finally:
        deadletter.close()


def eventually_logged(
    settings: Settings, domain: str, key: str, name: str, count: int = 1
) -> Event:
    """The last `name` event once `count` are logged. Blocks: async tests call it in a thread,
    so their peers keep running meanwhile."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [event for event in logged(settings, domain, key) if event.name == name]
        if len(found) >= count:
            return found[-1]
        time.sleep(0.5)
    raise AssertionError(f"no {name} for {key} on livefold.{domain}.v1")


async def new_stream(http: httpx.AsyncClient, gateway: Running, tokens: Tokens) -> str:
    headers = tokens.headers(STREAMER, {"streamer"})
    body = {"title": "Speedrun", "category": "games"}
    made = await http.post(f"{gateway.url}/api/v1/streams", json=body, headers=headers)
    assert made.status_code == 202, made.text
    return str(made.json()["stream_id"])


async def rotated_key(http: httpx.AsyncClient, gateway: Running, tokens: Tokens) -> str:
    headers = tokens.headers(STREAMER, {"streamer"})
    answer = await http.post(f"{gateway.url}/api/v1/stream-key", headers=headers)
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return str(answer.json()["stream_key"])
