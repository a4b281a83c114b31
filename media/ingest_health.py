"""Stream health of a live RTMP ingest, measured from what the publisher sends: the input bitrate
(audio and video bytes) and fps over the last interval, and the video frames missing from the
encoder's timestamps (frames it dropped, as OBS does when its upload falls behind). Measured
every `media_health_seconds` while media flows, and reported when it changed meaningfully
(`changed`), else every `media_health_quiet_seconds`: the event rate stays low."""

from __future__ import annotations

import time
from dataclasses import dataclass

HEALTH_EVERY_SECONDS = 5.0
QUIET_SECONDS = 30.0
GAP_FACTOR = 1.5  # a gap this many frame intervals long means frames are missing
BITRATE_CHANGE = 0.10  # relative
FPS_CHANGE = 1.0


@dataclass
class IngestHealth:
    bitrate_kbps: float
    fps: float
    dropped_frames: int
    interval_ms: int


class HealthMeter:
    def __init__(
        self,
        nominal_fps: float,
        every_seconds: float = HEALTH_EVERY_SECONDS,
        quiet_seconds: float = QUIET_SECONDS,
        now: float | None = None,  # `time.monotonic()`
    ):
        self._frame_ms = 1000 / nominal_fps if nominal_fps > 0 else 0.0
        self._every, self._quiet = every_seconds, quiet_seconds
        self._since = time.monotonic() if now is None else now
        self._reported: tuple[float, IngestHealth] | None = None  # when, and what
        self._bytes = self._frames = self.dropped = 0
        self._last_timestamp: int | None = None

    def on_bytes(self, size: int) -> None:
        self._bytes += size

    def on_video_frame(self, timestamp: int) -> None:
        self._frames += 1
        last, self._last_timestamp = self._last_timestamp, timestamp
        if last is None or self._frame_ms <= 0:
            return
        gap = timestamp - last
        if gap > GAP_FACTOR * self._frame_ms:
            self.dropped += round(gap / self._frame_ms) - 1

    def due(self, now: float | None = None) -> IngestHealth | None:
        """The interval's figures once it lasted `every_seconds` (a new interval starts), if
        they are worth reporting: changed since the last report, or that was `quiet_seconds`
        ago."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._since
        if elapsed < self._every:
            return None
        health = IngestHealth(
            bitrate_kbps=round(min(self._bytes * 8 / elapsed / 1000, 1_000_000.0), 1),
            fps=round(min(self._frames / elapsed, 240.0), 2),
            dropped_frames=self.dropped,
            interval_ms=round(elapsed * 1000),
        )
        self._since, self._bytes, self._frames = now, 0, 0
        if self._reported is not None:
            reported_at, last = self._reported
            if now - reported_at < self._quiet - 1e-6 and not changed(last, health):
                return None
        self._reported = (now, health)
        return health


def changed(before: IngestHealth, after: IngestHealth) -> bool:
    bitrate = abs(after.bitrate_kbps - before.bitrate_kbps)
    return (
        after.dropped_frames != before.dropped_frames
        or abs(after.fps - before.fps) >= FPS_CHANGE
        or bitrate > BITRATE_CHANGE * max(before.bitrate_kbps, 1.0)
    )
