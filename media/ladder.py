"""The HLS ABR ladder: one ffmpeg process transcodes a live stream (read from its stdin) into
720p/480p/360p H.264 renditions with AAC audio, plus an audio-only rendition, as 1 s MPEG-TS
segments with a master playlist (docs/media.md, "HLS ladder").

Keyframes are forced at every whole second of the source's timeline in every rendition, so the
renditions' segments start at the same instants (a player switches rungs at any segment) and
every segment starts with a keyframe (clips are cut at segment boundaries without re-encoding).
Rungs taller than the source are left out: upscaling spends CPU on no picture.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from media import ffmpeg

SEGMENT_SECONDS = 1
LIVE_PLAYLIST_SEGMENTS = 6
MASTER = "master.m3u8"
PLAYLIST = "index.m3u8"
AUDIO = "audio"
AUDIO_BITRATE = "128k"


@dataclass(frozen=True)
class Rung:
    name: str
    height: int
    video_bitrate: str
    max_bitrate: str


RUNGS = (
    Rung("720p", 720, "2800k", "3000k"),
    Rung("480p", 480, "1200k", "1300k"),
    Rung("360p", 360, "700k", "750k"),
)


def rungs_for(source_height: int | None) -> tuple[Rung, ...]:
    """The rungs at or below the source's height (at least the lowest one)."""
    if source_height is None:
        return RUNGS
    fitting = tuple(rung for rung in RUNGS if rung.height <= source_height)
    return fitting or RUNGS[-1:]


def rendition_names(rungs: tuple[Rung, ...], has_audio: bool) -> list[str]:
    return [rung.name for rung in rungs] + ([AUDIO] if has_audio else [])


def arguments(
    source: list[str], output: Path, rungs: tuple[Rung, ...], has_audio: bool, preset: str
) -> list[str]:
    """ffmpeg's arguments after `source` (its input options and `-i ...`)."""
    splits = "".join(f"[s{i}]" for i in range(len(rungs)))
    graph = f"[0:v]split={len(rungs)}{splits};" + ";".join(
        f"[s{i}]scale=-2:{rung.height}[v{i}]" for i, rung in enumerate(rungs)
    )
    maps: list[str] = []
    rates: list[str] = []
    stream_map: list[str] = []
    for i, rung in enumerate(rungs):
        maps += ["-map", f"[v{i}]"] + (["-map", "0:a:0"] if has_audio else [])
        rates += [f"-b:v:{i}", rung.video_bitrate, f"-maxrate:v:{i}", rung.max_bitrate]
        rates += [f"-bufsize:v:{i}", rung.max_bitrate]
        stream_map.append(f"v:{i}" + (f",a:{i}" if has_audio else "") + f",name:{rung.name}")
    if has_audio:
        maps += ["-map", "0:a:0"]
        stream_map.append(f"a:{len(rungs)},name:{AUDIO}")
    keyframes = f"expr:gte(t,n_forced*{SEGMENT_SECONDS})"
    return [
        *source,
        "-filter_complex", graph,
        *maps,
        "-c:v", "libx264", "-preset", preset, "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-force_key_frames", keyframes, "-sc_threshold", "0",
        *rates,
        *(["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2"] if has_audio else []),
        "-f", "hls",
        "-hls_time", str(SEGMENT_SECONDS),
        "-hls_list_size", str(LIVE_PLAYLIST_SEGMENTS),
        "-hls_flags", "independent_segments+temp_file",
        "-master_pl_name", MASTER,
        "-hls_segment_filename", str(output / "%v" / "%05d.ts"),
        "-var_stream_map", " ".join(stream_map),
        str(output / "%v" / PLAYLIST),
    ]  # fmt: skip


class Ladder:
    """One ffmpeg transcoding what is written to it (in `input_format`) into `output`."""

    def __init__(
        self,
        output: Path,
        input_format: str,
        has_audio: bool,
        source_height: int | None,
        preset: str = "veryfast",
    ):
        self.output = output
        self.input_format = input_format
        self.has_audio = has_audio
        self.rungs = rungs_for(source_height)
        self.renditions = rendition_names(self.rungs, has_audio)
        self.preset = preset
        self.process: asyncio.subprocess.Process | None = None
        self._early: list[bytes] | None = []  # written before ffmpeg started
        self.written = 0  # bytes of input
        self.log = output.parent / f"{output.name}.ffmpeg.log"

    async def start(self) -> None:
        for name in self.renditions:
            (self.output / name).mkdir(parents=True, exist_ok=True)
        source = ["-fflags", "+genpts", "-f", self.input_format, "-i", "pipe:0"]
        self.process = await ffmpeg.start(
            *arguments(source, self.output, self.rungs, self.has_audio, self.preset),
            stdin=asyncio.subprocess.PIPE,
            log=self.log,
        )
        early, self._early = self._early or [], None
        for data in early:
            self.write(data)

    def write(self, data: bytes) -> None:
        self.written += len(data)
        process = self.process
        if self._early is not None:
            self._early.append(data)
        elif process is not None and process.stdin is not None and not process.stdin.is_closing():
            process.stdin.write(data)

    async def finish(self, timeout: float = 120.0) -> int | None:
        """Close ffmpeg's input and wait for it to write its last segments (on a loaded machine
        it may be many seconds behind); its exit code."""
        process = self.process
        if process is None:
            return None
        if process.stdin is not None and not process.stdin.is_closing():
            with contextlib.suppress(ConnectionError):  # ffmpeg already gone
                await process.stdin.drain()
            process.stdin.close()
        try:
            return await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            return await process.wait()
