"""A WHIP publisher's encoded frames into the HLS ladder: muxed as they arrive (no decoding) into
a NUT stream on the ladder's stdin with PyAV, so HLS viewers and the recording get WHIP streams
as they get RTMP ones.

The feed starts at a video keyframe (it asks the publisher for one). Video and audio RTP clocks
start at random values and are not tied together without RTCP sender reports, so both are
anchored to the arrival of that keyframe: a packet's time is its RTP time since the anchor
(audio's anchor estimated from its first packet's arrival). Packets that would go back in time
(reordering, a clock jump) are dropped: the muxer needs increasing timestamps.
"""

from __future__ import annotations

import fractions
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av

from media.frames import is_keyframe

if TYPE_CHECKING:
    from media.broadcast import Broadcasts
    from media.peers import Publisher

log = logging.getLogger(__name__)
VIDEO_CLOCK = 90_000
AUDIO_CODECS = {"opus": ("opus", 48_000, 2), "pcmu": ("pcm_mulaw", 8_000, 1)}
AUDIO_CODECS["pcma"] = ("pcm_alaw", 8_000, 1)
VIDEO_CODECS = {"vp8": "vp8", "h264": "h264"}


class _Pipe:
    """The file PyAV writes the NUT stream to: each write goes to the ladder."""

    def __init__(self, write: Callable[[bytes], None]):
        self._write = write

    def write(self, data: Any) -> int:
        self._write(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass


class WhipFeed:
    def __init__(
        self,
        write: Callable[[bytes], None],
        video_codec: str,
        size: tuple[int, int],
        audio_codec: str | None,
    ):
        self._container = av.open(_Pipe(write), mode="w", format="nut")
        video = self._container.add_stream(VIDEO_CODECS[video_codec], rate=30)
        assert isinstance(video, av.VideoStream)
        video.width, video.height = size
        video.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._video = video
        self._audio: Any = None
        self._audio_rate = 0
        if audio_codec in AUDIO_CODECS:
            name, rate, channels = AUDIO_CODECS[audio_codec]
            self._audio = self._container.add_stream(name, rate=rate)
            self._audio.layout = "stereo" if channels == 2 else "mono"
            self._audio.time_base = fractions.Fraction(1, rate)
            self._audio_rate = rate
        self._video_codec = video_codec.upper()
        self._video_anchor: int | None = None  # RTP time of the first keyframe
        self._anchored_at = 0.0  # its arrival (monotonic)
        self._audio_anchor: int | None = None
        self._last: dict[int, int] = {}  # stream index -> last pts muxed
        self.closed = False

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def on_video(self, frame: bytes, timestamp: int) -> None:
        if self._video_anchor is None:
            if not is_keyframe(self._video_codec, frame):
                return
            self._video_anchor, self._anchored_at = timestamp, time.monotonic()
        self._mux(
            self._video,
            frame,
            timestamp - self._video_anchor,
            is_keyframe(self._video_codec, frame),
        )

    def on_audio(self, frame: bytes, timestamp: int) -> None:
        if self._audio is None or self._video_anchor is None:
            return
        if self._audio_anchor is None:
            since = time.monotonic() - self._anchored_at
            self._audio_anchor = timestamp - round(since * self._audio_rate)
        self._mux(self._audio, frame, timestamp - self._audio_anchor, True)

    def _mux(self, stream: Any, data: bytes, pts: int, keyframe: bool) -> None:
        if self.closed or pts < 0 or pts <= self._last.get(stream.index, -1):
            return
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = stream.time_base
        packet.stream = stream
        packet.is_keyframe = keyframe
        try:
            self._container.mux(packet)
        except av.FFmpegError as error:
            log.warning("a WHIP frame was not muxed for the ladder: %s", error)
            return
        self._last[stream.index] = pts

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._container.close()
            except av.FFmpegError as error:
                log.warning("the WHIP feed did not close cleanly: %s", error)


def broadcast(publisher: Publisher, broadcasts: Broadcasts, size: tuple[int, int]) -> None:
    """Start the HLS ladder of a WHIP publisher that went live."""
    video = publisher.video_codec
    audio = publisher.audio_codec
    if video is None or video.name.lower() not in VIDEO_CODECS:
        return
    audio_name = None if audio is None else audio.name.lower()
    has_audio = audio_name in AUDIO_CODECS
    ingest = broadcasts.open(publisher.stream_id, publisher.session_id, "nut", has_audio, size[1])
    publisher.ladder = WhipFeed(ingest.write, video.name.lower(), size, audio_name)
    publisher.stage.request_keyframe()  # the feed starts at a keyframe
