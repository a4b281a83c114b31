"""Fan-out of one publisher's encoded frames to its viewers, without decoding or re-encoding.

A `Stage` takes each frame the ingest receiver reassembles (media/aiortc_private.py), packs it
into RTP payloads once (`Packed`), and hands that to every viewer's `ForwardedTrack`, whose
sender sends the payloads as they are (`aiortc_private.send_packed`). A decoder can only start
at a keyframe, so:
- a new viewer (or one whose queue overflowed) gets nothing until the next keyframe, and the
  publisher is asked for one (PLI, at most once per `PLI_INTERVAL`; a request inside that
  interval is sent when it ends);
- when the ingest itself lost packets (aiortc sends its own PLI upstream), every viewer is held
  until the next keyframe, since the frames in between would decode to silent garbage;
- a viewer's own PLI/FIR is forwarded upstream through the same rate limit.
Audio frames are all decodable on their own and go to every viewer as they come.

The ingest process's stage has no viewers of its own: its taps send each frame that passes the
ingest-loss gate to the fan-out processes (media/fanout.py), whose stages hold the viewers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from media import aiortc_private
from media.frames import is_keyframe
from media.ingest_health import HealthMeter

PLI_INTERVAL = 1.0
VIDEO_CLOCK = 90_000
QUEUE_FRAMES = 90  # a viewer this far behind is reset to the next keyframe
TIME_BASES = {"video": Fraction(1, VIDEO_CLOCK), "audio": Fraction(1, 48_000)}
Tap = Callable[[str, bytes, int], None]  # kind ("video" | "audio"), frame, RTP timestamp


class Packed:
    """One frame, packed into RTP payloads once for every viewer that gets it (a VP8 frame's
    picture id is then the same for all, and grows by one per frame packed)."""

    __slots__ = ("frame", "payloads", "timestamp")

    def __init__(self, frame: bytes, timestamp: int, payloads: list[bytes]):
        self.frame = frame
        self.timestamp = timestamp
        self.payloads = payloads


class Packer:
    """aiortc's packer of one codec, fed each frame of a stage in order."""

    def __init__(self, kind: str, mime_type: str):
        self._encoder = aiortc_private.packer(mime_type)
        self._time_base = TIME_BASES[kind]

    def pack(self, frame: bytes, timestamp: int) -> Packed:
        packet = av.Packet(frame)
        packet.pts = timestamp
        packet.time_base = self._time_base
        payloads, _ = self._encoder.pack(packet)
        return Packed(frame, timestamp, payloads)


class ForwardedTrack(MediaStreamTrack):
    """A viewer's track of the publisher's frames, packed once (`next_packed`, what its sender
    sends: `aiortc_private.send_packed`); `recv` yields them as `av.Packet`s."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._time_base = TIME_BASES[kind]
        self._frames: asyncio.Queue[Packed | None] = asyncio.Queue(QUEUE_FRAMES)

    def offer(self, packed: Packed) -> bool:
        """Queue a frame; False when the viewer is too far behind (the queue was emptied)."""
        try:
            self._frames.put_nowait(packed)
        except asyncio.QueueFull:
            while not self._frames.empty():
                self._frames.get_nowait()
            return False
        return True

    def finish(self) -> None:
        while not self._frames.empty():
            self._frames.get_nowait()
        self._frames.put_nowait(None)

    async def next_packed(self) -> tuple[list[bytes], int]:
        item = await self._frames.get()
        if item is None:
            self.stop()
            raise MediaStreamError
        return item.payloads, item.timestamp

    async def recv(self) -> av.Packet[Any]:
        item = await self._frames.get()
        if item is None:
            self.stop()
            raise MediaStreamError
        packet = av.Packet(item.frame)
        packet.pts = item.timestamp
        packet.time_base = self._time_base
        return packet


class Viewer:
    def __init__(self, viewer_id: str, video: ForwardedTrack, audio: ForwardedTrack | None):
        self.viewer_id = viewer_id
        self.video = video
        self.audio = audio
        self.waiting_for_keyframe = True
        self.frames = 0  # video frames forwarded

    def finish(self) -> None:
        self.video.finish()
        if self.audio is not None:
            self.audio.finish()


class Stage:
    """One live publisher and its viewers."""

    def __init__(self, stream_id: str, send_pli: Callable[[], None]):
        self.stream_id = stream_id
        self.viewers: dict[str, Viewer] = {}
        self.taps: list[Tap] = []
        self.holding_all = False
        self.last_frame_at = time.monotonic()
        self.video_frames = 0
        self.meter: HealthMeter | None = None  # once the ingest is reported
        self._send_pli = send_pli
        self._last_pli = -PLI_INTERVAL
        self._pli_pending: asyncio.TimerHandle | None = None
        self._packers: dict[str, Packer] = {}  # "video/VP8", "audio/opus" -> its packer

    def _packed(self, kind: str, codec: str, frame: bytes, timestamp: int) -> Packed:
        mime_type = f"{kind}/{codec}"
        packer = self._packers.get(mime_type)
        if packer is None:
            packer = self._packers[mime_type] = Packer(kind, mime_type)
        return packer.pack(frame, timestamp)

    def add(self, viewer: Viewer) -> None:
        self.viewers[viewer.viewer_id] = viewer
        self.request_keyframe()

    def remove(self, viewer_id: str) -> None:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is not None:
            viewer.finish()

    def on_video(self, codec: str, frame: bytes, timestamp: int) -> None:
        self.last_frame_at = time.monotonic()
        self.video_frames += 1
        if self.meter is not None:
            self.meter.on_bytes(len(frame))
            self.meter.on_video_frame(timestamp * 1000 // VIDEO_CLOCK)
        keyframe = is_keyframe(codec, frame)
        if self.holding_all:
            if not keyframe:
                return
            self.holding_all = False
        for tap in self.taps:
            tap("video", frame, timestamp)
        packed: Packed | None = None
        for viewer in self.viewers.values():
            if viewer.waiting_for_keyframe:
                if not keyframe:
                    continue
                viewer.waiting_for_keyframe = False
            packed = packed or self._packed("video", codec, frame, timestamp)
            if viewer.video.offer(packed):
                viewer.frames += 1
            else:
                viewer.waiting_for_keyframe = True
                self.request_keyframe()

    def on_audio(self, frame: bytes, timestamp: int) -> None:
        if self.meter is not None:
            self.meter.on_bytes(len(frame))
        for tap in self.taps:
            tap("audio", frame, timestamp)
        packed: Packed | None = None
        for viewer in self.viewers.values():
            if viewer.audio is not None:
                packed = packed or self._packed("audio", "opus", frame, timestamp)
                viewer.audio.offer(packed)

    def on_ingest_loss(self) -> None:
        """aiortc lost ingest packets and asked the publisher for a keyframe itself."""
        self.holding_all = True
        self._last_pli = time.monotonic()

    def request_keyframe(self) -> None:
        wait = self._last_pli + PLI_INTERVAL - time.monotonic()
        if wait <= 0:
            self._last_pli = time.monotonic()
            self._send_pli()
        elif self._pli_pending is None:
            self._pli_pending = asyncio.get_running_loop().call_later(wait, self._pending_pli)

    def _pending_pli(self) -> None:
        self._pli_pending = None
        self.request_keyframe()

    def close(self) -> None:
        if self._pli_pending is not None:
            self._pli_pending.cancel()
        for viewer in self.viewers.values():
            viewer.finish()
        self.viewers.clear()
