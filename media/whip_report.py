"""When a WHIP publisher's media counts as flowing, and what its `IngestStarted` says: the
first keyframe, then a second of frames or 30 frames; the codec, the picture size (from the
keyframe) and the fps measured over those frames (docs/media.md, "Going live and ending")."""

from __future__ import annotations

from media.frames import is_keyframe, picture_size
from media.peers import Publisher
from media.rtmp_ingest import IngestReport

VIDEO_CLOCK = 90_000
REPORT_AFTER_FRAMES = 30


def _first_keyframe(publisher: Publisher) -> int | None:
    codec = publisher.video_codec
    if codec is None:
        return None
    frames = publisher.first_frames
    return next((i for i, (frame, _) in enumerate(frames) if is_keyframe(codec.name, frame)), None)


def flowing(publisher: Publisher) -> bool:
    first = _first_keyframe(publisher)
    if first is None:
        return False
    frames = publisher.first_frames
    span = frames[-1][1] - frames[first][1]
    return len(frames) - first >= REPORT_AFTER_FRAMES or span >= VIDEO_CLOCK


def ingest_report(publisher: Publisher) -> tuple[IngestReport, tuple[int, int]]:
    """The report of a publisher that is `flowing`, and its picture size."""
    codec, first = publisher.video_codec, _first_keyframe(publisher)
    assert codec is not None and first is not None
    frames = publisher.first_frames
    size = picture_size(codec.name, frames[first][0]) or (1, 1)
    span = frames[-1][1] - frames[first][1]
    fps = (len(frames) - first - 1) * VIDEO_CLOCK / span if span > 0 else 30.0
    audio = publisher.audio_codec
    report = IngestReport(
        codec=codec.name.lower(),
        width=size[0],
        height=size[1],
        fps=round(min(max(fps, 0.001), 240.0), 3),
        audio_codec=None if audio is None else audio.name.lower(),
    )
    return report, size
