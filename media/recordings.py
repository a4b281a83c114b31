"""Reading a recording back from S3, laid out as docs/media.md says (media/recording.py):
`recordings/<stream>/<ingest>/<rendition>/<sequence:05d>.ts`, 1 s segments that each start with
a keyframe, and once the ingest ended a VOD playlist `<rendition>/index.m3u8` whose `#EXTINF`
durations are exact. While the recording is live there is no playlist yet: segment n is taken to
start n seconds in.

And what clips and thumbnails ask of ffmpeg (media/ffmpeg.py): copying segments into an MP4,
taking a JPEG.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

import av
from minio import Minio
from minio.error import S3Error

from media.ffmpeg import run
from media.ladder import PLAYLIST

RENDITIONS = ("720p", "480p", "360p")  # with video, best first
SEGMENT_MS = 1_000
_SEGMENT = re.compile(r"(\d{5,})\.ts")


@dataclass(frozen=True)
class Segment:
    key: str
    start_ms: int
    duration_ms: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Timeline:
    rendition: str
    segments: list[Segment]
    finished: bool  # the VOD playlist exists: nothing more will be added

    @property
    def length_ms(self) -> int:
        return self.segments[-1].end_ms if self.segments else 0


def timeline(store: Minio, bucket: str, prefix: str, renditions: tuple[str, ...]) -> Timeline:
    """The segments of the first of `renditions` that has any (empty if none has)."""
    for rendition in renditions:
        folder = f"{prefix}{rendition}/"
        playlist = _read_text(store, bucket, folder + PLAYLIST)
        if playlist is not None:
            return Timeline(rendition, _from_playlist(folder, playlist), True)
        segments = segments_after(store, bucket, folder)
        if segments:
            return Timeline(rendition, segments, False)
    return Timeline(renditions[0], [], False)


def segments_after(store: Minio, bucket: str, folder: str, after: str = "") -> list[Segment]:
    """A live rendition's segments, in order (after the key `after`), by their numbers."""
    found = []
    for item in store.list_objects(bucket, prefix=folder, start_after=after or None):
        match = _SEGMENT.fullmatch(posixpath.basename(item.object_name or ""))
        if match:
            sequence = int(match.group(1))
            found.append(Segment(str(item.object_name), sequence * SEGMENT_MS, SEGMENT_MS))
    return sorted(found, key=lambda segment: segment.start_ms)


def _from_playlist(folder: str, playlist: str) -> list[Segment]:
    segments, start, duration = [], 0, None
    for line in playlist.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            duration = round(float(line[len("#EXTINF:") :].split(",")[0]) * 1000)
        elif line and not line.startswith("#") and duration is not None:
            segments.append(Segment(posixpath.join(folder, line), start, duration))
            start, duration = start + duration, None
    return segments


def _read_text(store: Minio, bucket: str, key: str) -> str | None:
    try:
        answer = store.get_object(bucket, key)
    except S3Error as error:
        if error.code == "NoSuchKey":
            return None
        raise
    try:
        return bytes(answer.read()).decode("utf-8")
    finally:
        answer.close()
        answer.release_conn()


def download(store: Minio, bucket: str, segments: list[Segment], into: Path) -> Path:
    """The segments joined into one MPEG-TS file (TS concatenates as bytes)."""
    joined = into / "joined.ts"
    with joined.open("wb") as out:
        for segment in segments:
            answer = store.get_object(bucket, segment.key)
            try:
                for chunk in answer.stream(256 * 1024):
                    out.write(chunk)
            finally:
                answer.close()
                answer.release_conn()
    return joined


def remux(source: Path, target: Path, duration_ms: int) -> None:
    """The first `duration_ms` of `source` (which starts on a keyframe) as an MP4, copied."""
    run(
        *("-i", str(source), "-t", f"{duration_ms / 1000:.3f}"),
        *("-c", "copy", "-map", "0:v:0", "-map", "0:a?"),
        *("-movflags", "+faststart", str(target)),
    )


def thumbnail(source: Path, target: Path, at_ms: int = 0) -> None:
    """A JPEG of the frame at `at_ms`, at most 360 pixels high."""
    run(
        *("-ss", f"{at_ms / 1000:.3f}", "-i", str(source), "-frames:v", "1"),
        *("-vf", "scale=-2:'min(360,ih)'", "-q:v", "4", str(target)),
    )


def duration_ms(path: Path) -> int:
    """From the MP4's header, without decoding (media.ffmpeg.probe decodes it all)."""
    with av.open(str(path)) as container:
        return round((container.duration or 0) / 1000)
