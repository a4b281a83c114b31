"""Recording a live ladder to S3 as it is written, and its VOD playlists at the end.

The recorder reads each rendition's live playlist as ffmpeg rewrites it: a segment listed there
is complete, and is uploaded to `recordings/<stream>/<ingest>/<rendition>/<sequence>.ts` at
once, so a crash of the media process loses at most the segment being written. The local copy
is deleted once uploaded and out of the live playlist's window (ffmpeg keeps none: the
recorder owns the files). At the end, each rendition's VOD playlist (`#EXT-X-PLAYLIST-TYPE:
VOD`, every segment, `#EXT-X-ENDLIST`) and the master playlist are stored next to the
segments (docs/media.md, "Recordings in S3"). The master playlist is stored as soon as
ffmpeg writes it.

`salvage` finishes a recording whose media process was killed: from what S3 holds, plus the
segments the live folder still has (and their lengths), if the process runs on the same host.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from minio import Minio
from minio.error import MinioException

from media.ladder import MASTER, PLAYLIST, SEGMENT_SECONDS

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2
KEEP_BEHIND_WINDOW = 3  # segments kept locally after leaving the live playlist
M3U8 = "application/vnd.apple.mpegurl"
TS = "video/mp2t"


def recording_prefix(stream_id: str, ingest_id: str) -> str:
    return f"recordings/{stream_id}/{ingest_id}"


@dataclass
class Segment:
    sequence: int
    uri: str
    duration: float


def listed_segments(playlist: str) -> list[Segment]:
    """The segments of a live media playlist, in order."""
    sequence, duration, found = 0, None, []
    for line in playlist.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            found.append(Segment(sequence, line, duration))
            sequence, duration = sequence + 1, None
    return found


def vod_playlist(segments: list[Segment]) -> str:
    target = max((math.ceil(segment.duration) for segment in segments), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    expected = segments[0].sequence if segments else 0
    for segment in segments:
        if segment.sequence != expected:
            lines.append("#EXT-X-DISCONTINUITY")  # a segment lost on the way: say so
        lines += [f"#EXTINF:{segment.duration:.6f},", segment.uri]
        expected = segment.sequence + 1
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


@dataclass
class Recording:
    bucket: str
    master_key: str
    duration_ms: int
    size_bytes: int
    segments: int


@dataclass
class _Rendition:
    name: str
    uploaded: dict[int, Segment] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)


class Recorder:
    def __init__(self, store: Minio, bucket: str, prefix: str, directory: Path, names: list[str]):
        self.store, self.bucket, self.prefix, self.directory = store, bucket, prefix, directory
        self.renditions = [_Rendition(name) for name in names]
        self.size_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._master_stored = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._follow())

    async def finish(self) -> Recording:
        """After ffmpeg exited: upload what is left, then the VOD playlists."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._upload_new()
        for rendition in self.renditions:
            segments = sorted(rendition.uploaded.values(), key=lambda s: s.sequence)
            await self._put(f"{rendition.name}/{PLAYLIST}", vod_playlist(segments).encode(), M3U8)
        master = self.directory / MASTER
        if master.exists():
            await self._put(MASTER, master.read_bytes(), M3U8)
        longest = max((self._duration(rendition) for rendition in self.renditions), default=0.0)
        return Recording(
            bucket=self.bucket,
            master_key=f"{self.prefix}/{MASTER}",
            duration_ms=round(longest * 1000),
            size_bytes=self.size_bytes,
            segments=sum(len(rendition.uploaded) for rendition in self.renditions),
        )

    @staticmethod
    def _duration(rendition: _Rendition) -> float:
        return sum(segment.duration for segment in rendition.uploaded.values())

    async def _follow(self) -> None:
        while True:
            try:
                await self._upload_new()
            except (OSError, MinioException, ValueError):
                log.exception("recording %s: upload failed, trying again", self.prefix)
            await asyncio.sleep(POLL_SECONDS)

    async def _upload_new(self) -> None:
        master = self.directory / MASTER
        if not self._master_stored and master.exists():
            await self._put(MASTER, master.read_bytes(), M3U8)
            self._master_stored = True
        for rendition in self.renditions:
            folder = self.directory / rendition.name
            try:
                listed = listed_segments((folder / PLAYLIST).read_text())
            except FileNotFoundError:
                continue
            for segment in listed:
                if segment.sequence in rendition.uploaded:
                    rendition.uploaded[segment.sequence].duration = segment.duration
                    continue
                try:
                    data = (folder / segment.uri).read_bytes()
                except FileNotFoundError:  # salvaging: ffmpeg died before writing it
                    continue
                await self._put(f"{rendition.name}/{segment.uri}", data, TS)
                rendition.uploaded[segment.sequence] = segment
                self.size_bytes += len(data)
            window_start = listed[0].sequence if listed else 0
            for sequence, segment in rendition.uploaded.items():
                if (
                    sequence < window_start - KEEP_BEHIND_WINDOW
                    and sequence not in rendition.deleted
                ):
                    (folder / segment.uri).unlink(missing_ok=True)
                    rendition.deleted.add(sequence)

    async def _put(self, name: str, data: bytes, content_type: str) -> None:
        key = f"{self.prefix}/{name}"
        await asyncio.to_thread(
            self.store.put_object, self.bucket, key, io.BytesIO(data), len(data), content_type
        )


async def salvage(store: Minio, bucket: str, prefix: str, directory: Path) -> Recording | None:
    """Finish the recording at `prefix` that a killed media process left: every segment in S3
    or still in the live folder, a segment's length from the live playlists where they still
    list it, else the ladder's segment length. None if no segment was stored."""

    def stored() -> list[tuple[str, int]]:
        found = store.list_objects(bucket, f"{prefix}/", recursive=True)
        return [(str(item.object_name), item.size or 0) for item in found]

    segments: dict[str, dict[int, tuple[Segment, int]]] = {}
    for name, size in await asyncio.to_thread(stored):
        rendition_name, _, uri = name[len(prefix) + 1 :].partition("/")
        if uri.endswith(".ts") and uri[:-3].isdigit():
            sequence = int(uri[:-3])
            segments.setdefault(rendition_name, {})[sequence] = (
                Segment(sequence, uri, SEGMENT_SECONDS),
                size,
            )
    local = {
        folder.name
        for folder in (directory.iterdir() if directory.is_dir() else [])
        if folder.is_dir()
    }
    recorder = Recorder(store, bucket, prefix, directory, sorted(set(segments) | local))
    for rendition in recorder.renditions:
        for sequence, (segment, size) in segments.get(rendition.name, {}).items():
            rendition.uploaded[sequence] = segment
            recorder.size_bytes += size
    recorder._master_stored = True  # stored when the recording began
    recording = await recorder.finish()
    return recording if recording.segments else None
