"""An RTMP publisher as an ingest: its FLV audio and video messages become an FLV stream on the
ladder's stdin (media/broadcast.py), and it is reported live like a WHIP publisher.

The ladder starts at the first video keyframe (with the sequence headers before it), when
whether there is audio is known (from `onMetaData`, or audio already seen). The ingest is
reported (`IngestStarted`, `WentLive`) once a second of video, or 30 frames, followed that
keyframe, with the codec and the size from `onMetaData` or, failing that, from decoding the
keyframe; fps is measured from the timestamps. From then on its health (media/ingest_health.py)
is reported as it changes (`IngestHealth`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from media.broadcast import Broadcast, Broadcasts
from media.frames import picture_size
from media.ingest_health import HealthMeter, IngestHealth
from media.rtmp import AUDIO, VIDEO

FLV_AUDIO, FLV_VIDEO = 0x04, 0x01
REPORT_AFTER_FRAMES = 30
REPORT_AFTER_MS = 1000
AVC = 7
VIDEO_CODECS = {AVC: "h264", 12: "hevc", 2: "h263", 4: "vp6"}
FOURCC_CODECS = {b"avc1": "h264", b"hvc1": "hevc", b"av01": "av1", b"vp09": "vp9"}
AUDIO_CODECS = {10: "aac", 2: "mp3", 11: "speex", 7: "pcma", 8: "pcmu"}
AUDIO_FOURCC = {b"Opus": "opus", b"mp4a": "aac", b".mp3": "mp3", b"fLaC": "flac", b"ac-3": "ac3"}


@dataclass
class IngestReport:
    codec: str
    width: int
    height: int
    fps: float
    audio_codec: str | None


def flv_header(has_audio: bool) -> bytes:
    flags = FLV_VIDEO | (FLV_AUDIO if has_audio else 0)
    return b"FLV\x01" + bytes([flags]) + (9).to_bytes(4, "big") + bytes(4)


def flv_tag(kind: int, timestamp: int, body: bytes) -> bytes:
    header = (
        bytes([kind]) + len(body).to_bytes(3, "big") + (timestamp & 0xFFFFFF).to_bytes(3, "big")
    )
    header += bytes([(timestamp >> 24) & 0xFF]) + bytes(3)
    return header + body + (11 + len(body)).to_bytes(4, "big")


def video_codec(body: bytes) -> str:
    if body[0] & 0x80 and len(body) >= 5:  # enhanced RTMP: a FourCC names the codec
        return FOURCC_CODECS.get(body[1:5], body[1:5].decode("latin-1").strip())
    return VIDEO_CODECS.get(body[0] & 0x0F, f"flv-{body[0] & 0x0F}")


def audio_codec(body: bytes) -> str:
    sound_format = body[0] >> 4
    if sound_format == 9 and len(body) >= 5:
        return AUDIO_FOURCC.get(body[1:5], body[1:5].decode("latin-1").strip())
    return AUDIO_CODECS.get(sound_format, f"flv-{sound_format}")


def is_sequence_header(body: bytes) -> bool:
    if body[0] & 0x80:
        return body[0] & 0x0F == 0
    return body[0] & 0x0F == AVC and len(body) > 1 and body[1] == 0


def is_keyframe(body: bytes) -> bool:
    return (body[0] >> 4) & 0x07 == 1 and not is_sequence_header(body)


def avc_keyframe_annex_b(sequence_header: bytes, keyframe: bytes) -> bytes:
    """An FLV AVC keyframe with its parameter sets as an H.264 Annex B frame (to decode it):
    the sequence header holds an AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1)."""
    config = sequence_header[5:]
    length_size = (config[4] & 0x03) + 1
    units: list[bytes] = []
    at = 5
    for mask in (0x1F, 0xFF):  # the SPS count shares its byte with reserved bits; PPS not
        count, at = config[at] & mask, at + 1
        for _ in range(count):
            size = int.from_bytes(config[at : at + 2], "big")
            units.append(config[at + 2 : at + 2 + size])
            at += 2 + size
    data, at = keyframe[5:], 0
    while at + length_size <= len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        units.append(data[at + length_size : at + length_size + size])
        at += length_size + size
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in units)


class RtmpIngest:
    """The `media.rtmp.Sink` of one accepted publisher."""

    def __init__(
        self,
        stream_id: str,
        streamer: str,
        disconnect: Callable[[], None],
        broadcasts: Broadcasts,
        report: Callable[[RtmpIngest, IngestReport], Awaitable[None]],
        ended: Callable[[RtmpIngest, str], Awaitable[None]],
        health: Callable[[RtmpIngest, IngestHealth], Awaitable[None]] | None = None,
        meter: Callable[[float], HealthMeter] = HealthMeter,  # from the fps at the start
    ):
        self.session_id = uuid.uuid4().hex
        self.stream_id, self.streamer = stream_id, streamer
        self.metadata: dict[str, Any] = {}
        self._disconnect, self._broadcasts = disconnect, broadcasts
        self._report, self._ended = report, ended
        self._sequence_headers: list[bytes] = []
        self._video_header: bytes | None = None
        self._keyframe: tuple[int, bytes] | None = None  # the first one: (timestamp, body)
        self._frame_times: list[int] = []
        self._audio: str | None = None
        self._reported = False
        self._reporting: asyncio.Future[None] | None = None
        self._broadcast: Broadcast | None = None
        self._health, self._new_meter = health, meter
        self._meter: HealthMeter | None = None  # from the report on
        self._tasks: set[asyncio.Future[None]] = set()

    def on_metadata(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata

    def on_media(self, kind: int, timestamp: int, body: bytes) -> None:
        tag = flv_tag(kind, timestamp, body)
        if self._reported:
            self._measure(kind, timestamp, body)
        if kind == AUDIO:
            self._audio = self._audio or audio_codec(body)
            if self._keyframe is None:
                if body[0] >> 4 == 10 and len(body) > 1 and body[1] == 0:  # AAC config
                    self._sequence_headers.append(tag)
                return
            self._write(tag)
            return
        if kind != VIDEO:
            return
        if is_sequence_header(body):
            self._video_header = body
            if self._keyframe is None:
                self._sequence_headers.append(tag)
            else:
                self._write(tag)
            return
        if self._keyframe is None:
            if not is_keyframe(body):
                return  # nothing decodes before the first keyframe
            self._keyframe = (timestamp, body)
            has_audio = self._audio is not None or "audiocodecid" in self.metadata
            self._broadcast = self._broadcasts.open(
                self.stream_id, self.session_id, "flv", has_audio, self._source_height()
            )
            self._write(flv_header(has_audio) + b"".join(self._sequence_headers))
        self._write(tag)
        if not self._reported:
            self._frame_times.append(timestamp)
            span = timestamp - self._keyframe[0]
            if len(self._frame_times) > REPORT_AFTER_FRAMES or span >= REPORT_AFTER_MS:
                self._reported = True
                report = self._ingest_report(span)
                self._reporting = asyncio.ensure_future(self._report(self, report))
                if self._health is not None:
                    self._meter = self._new_meter(report.fps)

    def _measure(self, kind: int, timestamp: int, body: bytes) -> None:
        meter = self._meter
        if meter is None or self._health is None:
            return
        meter.on_bytes(len(body))
        if kind == VIDEO and not is_sequence_header(body):
            meter.on_video_frame(timestamp)
        health = meter.due()
        if health is not None:
            task = asyncio.ensure_future(self._health(self, health))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _write(self, data: bytes) -> None:
        if self._broadcast is not None:
            self._broadcast.write(data)

    def _source_height(self) -> int | None:
        size = self._size()
        return size[1] if size else None

    def _size(self) -> tuple[int, int] | None:
        width, height = self.metadata.get("width"), self.metadata.get("height")
        if isinstance(width, float) and isinstance(height, float) and width >= 1 and height >= 1:
            return int(width), int(height)
        if self._keyframe is None or self._video_header is None:
            return None
        if video_codec(self._video_header) != "h264" or self._video_header[0] & 0x80:
            return None
        try:
            frame = avc_keyframe_annex_b(self._video_header, self._keyframe[1])
        except IndexError:
            return None
        return picture_size("H264", frame)

    def _ingest_report(self, span_ms: int) -> IngestReport:
        assert self._keyframe is not None
        width, height = self._size() or (1, 1)
        frames = len(self._frame_times) - 1
        fps = frames * 1000 / span_ms if span_ms > 0 and frames > 0 else 30.0
        return IngestReport(
            codec=video_codec(self._video_header or self._keyframe[1]),
            width=min(max(width, 1), 8192),
            height=min(max(height, 1), 8192),
            fps=round(min(max(fps, 0.001), 240.0), 3),
            audio_codec=self._audio,
        )

    async def on_end(self, why: str) -> None:
        await self._ended(self, why)

    async def close(self) -> None:
        self._disconnect()
