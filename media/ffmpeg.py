"""The one place livefold finds and starts ffmpeg: the static FFmpeg build that PyPI's
`imageio-ffmpeg` ships (libx264, aac, rtmp, hls), installed with the Python packages, so no
system package is needed and every machine runs the same ffmpeg (docs/media.md, "ffmpeg").

`probe` reads what a file or playlist holds (streams and their exact duration) by decoding it
with ffmpeg itself: imageio-ffmpeg ships no ffprobe.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import imageio_ffmpeg  # type: ignore[import-untyped]


@cache
def executable() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def command(*arguments: str, loglevel: str = "warning") -> list[str]:
    """An ffmpeg command line: quiet but for problems, never asking on stdin."""
    return [executable(), "-hide_banner", "-nostdin", "-loglevel", loglevel, *arguments]


async def start(
    *arguments: str, stdin: int | None = None, log: Path | None = None, loglevel: str = "warning"
) -> asyncio.subprocess.Process:
    """Start ffmpeg in the background; its messages go to `log` (appended), else are dropped."""
    args = command(*arguments, loglevel=loglevel)
    if stdin is not None:
        args.remove("-nostdin")
    errors = subprocess.DEVNULL if log is None else log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            *args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=errors
        )
    finally:
        if log is not None and not isinstance(errors, int):
            errors.close()  # the child has its own copy


def run(*arguments: str, timeout: float = 120.0) -> None:
    """Run ffmpeg to the end (clips, thumbnails); RuntimeError with its complaint if it fails."""
    done = subprocess.run(
        command("-y", *arguments, loglevel="error"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.strip()[-500:]}")


@dataclass
class Probe:
    duration_seconds: float
    video: list[tuple[int, int]] = field(default_factory=list)  # (width, height) per stream
    audio_streams: int = 0


_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (.*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_TIME = re.compile(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)")


def probe(source: str, seconds: float | None = None, timeout: float = 120.0) -> Probe:
    """Decode all of `source` (a file, a playlist or a URL), or its first `seconds` (a live
    playlist), and report its streams and the duration decoded: ValueError if ffmpeg cannot
    read it."""
    limit = [] if seconds is None else ["-t", str(seconds)]
    done = subprocess.run(
        command("-i", source, "-map", "0", *limit, "-f", "null", "-", loglevel="info"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(f"ffmpeg cannot read {source}: {done.stderr.strip()[-500:]}")
    found = Probe(0.0)
    for kind, details in _STREAM.findall(done.stderr.split("Output #0")[0]):
        if kind == "Audio":
            found.audio_streams += 1
        elif size := _SIZE.search(details):
            found.video.append((int(size[1]), int(size[2])))
    times = _TIME.findall(done.stderr)
    if times:
        hours, minutes, seconds = times[-1]
        found.duration_seconds = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return found
