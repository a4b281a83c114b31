"""Real WebRTC peers for the media tests: an aiortc publisher sending a synthetic video (each
frame paints its index) over WHIP, an aiortc viewer receiving over WHEP, and the media process."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import Iterator
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from infra.service import RunningService, free_port
from livefold.settings import Settings
from media.service import local_url, service
from tests.servers import log_to

WIDTH, HEIGHT, FPS = 320, 240, 30
INDEXES, INDEX_STEP = 16, 16  # the index mod 16 as grey, in steps coarse enough for VP8
SDP = {"Content-Type": "application/sdp"}


class NumberedFrames(VideoStreamTrack):
    """A test pattern at 30 fps whose brightness encodes the frame index; `paused` stops it
    sending (a stalled encoder)."""

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.paused = False

    async def recv(self) -> av.VideoFrame:
        while self.paused:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1 / FPS)
        picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        picture[HEIGHT // 2 :, WIDTH // 2 :, :] = (self.index % INDEXES) * INDEX_STEP
        picture[: HEIGHT // 2, : WIDTH // 2, 1] = 255
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = self.index * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        self.index += 1
        return frame


def peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def offer_of(connection: RTCPeerConnection) -> str:
    await connection.setLocalDescription(await connection.createOffer())
    return str(connection.localDescription.sdp)


async def post_offer(
    client: httpx.AsyncClient, url: str, offer: str, key: str | None = None
) -> httpx.Response:
    headers = dict(SDP) if key is None else {**SDP, "Authorization": f"Bearer {key}"}
    return await client.post(url, content=offer, headers=headers)


class Publisher:
    def __init__(self) -> None:
        self.track = NumberedFrames()
        self.peer = peer()
        self.peer.addTransceiver(self.track, direction="sendonly")

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


@contextlib.contextmanager
def media_process(settings: Settings, **changes: Any) -> Iterator[tuple[Settings, str]]:
    own = settings.model_copy(update={"media_port": free_port(), **changes})
    spec = service(own, "media")
    handle = RunningService(spec, log_to(settings.data_dir / "logs")(spec))
    handle.start()
    try:
        yield own, local_url(own)
    finally:
        handle.stop()
