"""RTMP → HLS benchmarks (docs/media.md, "HLS"):

- `rtmp_hls`: time from a frame's capture to the segment holding it being downloadable, through
  the media service (RTMP ingest, ladder, HTTP) and, side by side, through bare ffmpeg receiving
  the same RTMP and making the same ladder into a folder. One publisher (ffmpeg, a 720p30 test
  pattern and tone encoded beforehand, sent in real time without re-encoding) feeds both
  through the tee muxer, so both get the same frames at the same instants. A frame's capture
  time is the publisher's start (its first output byte) plus the frame's timestamp; the frame
  measured is each segment's first, so the figure includes the segment's own length (1 s), as
  the issue's bare-ffmpeg figures do.
- `ladder_speed`: how fast the ladder transcodes a 720p30 source with audio as fast as it can
  (media seconds per wall second, 1.0 = real time) and the CPU it takes, on this machine.

This machine has 2 cores shared with other work: both figures are contended.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from infra.service import RunningService, free_port
from livefold.settings import Settings
from livefold.stream import CREATED
from livefold.stream_keys import STREAM_KEY_ROTATED, new_key, sha256
from media import ffmpeg, ladder
from media.recording import listed_segments
from media.service import local_url
from media.service import service as media_service
from streams.codec import Codec
from streams.events import new_event
from streams.producer import EventProducer
from streams.provision import provision

SECONDS = 30
WARM_UP_SEGMENTS = 2
SPEED_SECONDS = 20
SOURCE = [
    "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
]  # fmt: skip
PUBLISH = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60"]
PUBLISH += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"]


def _stream_with_key(settings: Settings) -> tuple[str, str]:
    """A stream and its streamer's key, appended straight to the log (no gateway needed)."""
    streamer, stream_id = "bench-streamer", f"bench-{secrets.token_hex(4)}"
    key_id, key = new_key()
    producer = EventProducer(settings, Codec.from_settings(settings))
    try:
        for event in (
            new_event(STREAM_KEY_ROTATED, stream_id=streamer, actor_id=streamer, key_id=key_id,
                      key_sha256=sha256(key)),
            new_event(CREATED, stream_id=stream_id, actor_id=streamer, title="Bench",
                      category="bench"),
        ):  # fmt: skip
            producer.append(event).result(timeout=30)
    finally:
        producer.close()
    return stream_id, key


def _follow(read: Any, appeared: dict[int, tuple[float, float]], stop: float) -> None:
    """Poll a 720p live playlist (`read()` gives its text or None) every 20 ms; for each
    segment: (when it was first listed, its length)."""
    while time.time() < stop and len(appeared) < SECONDS:  # every segment, however late
        for segment in listed_segments(read() or ""):
            appeared.setdefault(segment.sequence, (time.time(), segment.duration))
        time.sleep(0.02)


def _latencies(appeared: dict[int, tuple[float, float]], started: float) -> dict[str, Any]:
    values = []
    for sequence, (listed_at, _) in appeared.items():
        start = sum(appeared.get(before, (0.0, 1.0))[1] for before in range(sequence))
        if sequence >= WARM_UP_SEGMENTS:
            values.append(listed_at - (started + start))
    if not values:
        return {"segments": 0}
    values.sort()
    return {
        "segments": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p90_s": round(values[math.ceil(0.9 * len(values)) - 1], 3),
        "max_s": round(values[-1], 3),
    }


def rtmp_hls(settings: Settings) -> dict[str, Any]:
    provision(settings)  # topics and schemas: the runner starts bare servers
    own = settings.model_copy(update={"media_port": free_port(), "rtmp_port": free_port()})
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    handle = RunningService(media_service(own, "media-bench"), (logs / "media.log").open("ab"))
    handle.start()
    bare_dir = Path(tempfile.mkdtemp(prefix="bare-ladder-", dir=settings.data_dir))
    bare_port = free_port()
    try:
        stream_id, key = _stream_with_key(own)
        source = _source(settings.data_dir, SECONDS)
        bare = subprocess.Popen(
            ffmpeg.command(*ladder.arguments(
                ["-listen", "1", "-f", "flv", "-i", f"rtmp://127.0.0.1:{bare_port}/live/bare"],
                bare_dir, ladder.RUNGS, True, "veryfast",
            )),
            stderr=(logs / "bare-ladder.log").open("ab"),
        )  # fmt: skip
        time.sleep(1.0)  # let it listen
        targets = (
            f"[f=flv]rtmp://127.0.0.1:{own.rtmp_port}/live/{key}"
            f"|[f=flv]rtmp://127.0.0.1:{bare_port}/live/bare|[f=flv]pipe:1"
        )
        publisher = subprocess.Popen(
            ffmpeg.command("-re", "-i", str(source), "-map", "0", "-c", "copy",
                           "-f", "tee", targets),
            stdout=subprocess.PIPE, stderr=(logs / "publisher.log").open("ab"),
        )  # fmt: skip
        assert publisher.stdout is not None
        publisher.stdout.read(1)
        started = time.time()
        stop = started + SECONDS + 90
        ours: dict[int, tuple[float, float]] = {}
        bares: dict[int, tuple[float, float]] = {}
        playlist = f"{local_url(own)}/hls/{stream_id}/720p/index.m3u8"

        def read_ours() -> str | None:
            answer = httpx.get(playlist, timeout=5)
            return answer.text if answer.status_code == 200 else None

        def read_bare() -> str | None:
            try:
                return (bare_dir / "720p" / ladder.PLAYLIST).read_text()
            except FileNotFoundError:
                return None

        async def both() -> None:
            await asyncio.gather(
                asyncio.to_thread(_follow, read_ours, ours, stop),
                asyncio.to_thread(_follow, read_bare, bares, stop),
                asyncio.to_thread(publisher.stdout.read),  # type: ignore[union-attr]
            )

        asyncio.run(both())
        publisher.wait(timeout=30)
        bare.wait(timeout=30)
    finally:
        handle.stop()
    livefold, baseline = _latencies(ours, started), _latencies(bares, started)
    return {
        "what": "capture of a segment's first frame -> segment listed in the 720p playlist",
        "segment_seconds": ladder.SEGMENT_SECONDS,
        "stream_seconds": SECONDS,
        "livefold_media": livefold,
        "bare_ffmpeg": baseline,
        "p50_ratio": round(livefold["p50_s"] / baseline["p50_s"], 3)
        if livefold.get("p50_s") and baseline.get("p50_s")
        else None,
        "contended": "2 shared cores; other helpers' work ran at the same time",
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
    }


def _source(folder: Path, seconds: int) -> Path:
    """The test pattern and tone encoded once (so publishing it costs no encoding)."""
    source = folder / "source.flv"
    subprocess.run(
        ffmpeg.command(*SOURCE, "-t", str(seconds), *PUBLISH, "-f", "flv", str(source)),
        check=True,
    )
    return source


def ladder_speed(settings: Settings) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="ladder-speed-", dir=settings.data_dir))
    source = _source(work, SPEED_SECONDS)
    results: dict[str, Any] = {"source": f"{SPEED_SECONDS} s 1280x720 30 fps H.264 + AAC"}
    for preset in ("veryfast",):
        output = work / preset
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        subprocess.run(
            ffmpeg.command(*ladder.arguments(["-f", "flv", "-i", str(source)], output,
                                             ladder.RUNGS, True, preset)),
            check=True,
        )  # fmt: skip
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        results[preset] = {
            "wall_s": round(wall, 2),
            "speed_x_real_time": round(SPEED_SECONDS / wall, 2),
            "cpu_s_per_media_s": round(cpu / SPEED_SECONDS, 2),
        }
    results["contended"] = "2 shared cores; other helpers' work ran at the same time"
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    return results


BENCHMARKS = {"rtmp_hls": rtmp_hls, "ladder_speed": ladder_speed}
