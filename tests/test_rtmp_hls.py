"""RTMP ingest, the HLS ladder and recordings through a real media process: ffmpeg (imageio-
ffmpeg's) publishes a test pattern over RTMP with a key from the gateway, the ladder's playlists
and segments are fetched over HTTP and decoded by ffmpeg, the recording is read back from S3
through the media service, and the lifecycle events are read from Kafka."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

import livefold.media
from infra.service import RunningService, free_port
from livefold.folding import Update
from livefold.settings import Settings
from livefold.stream_keys import fingerprint
from media import ffmpeg
from media.hls import SEGMENT_CACHE
from media.recording import listed_segments
from media.service import local_url, service
from tests.gateways import Running, Tokens, gateway
from tests.media_peers import (
    STREAMER,
    Publisher,
    connect,
    eventually_logged,
    logged,
    media_process,
)
from tests.servers import log_to

SECONDS = 8
WHIP_SECONDS = 12
HEALTH_SECONDS = 13  # the first report after about 1 s, then health every 5 s (never quiet)
STALL_SECONDS = 3.0
ORIGIN = {"Origin": "https://player.example"}

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(stack: Settings) -> Iterator[tuple[Running, Settings, str, Tokens]]:
    with (
        gateway(stack, "gateway-rtmp") as running,
        media_process(
            stack, media_ingest_timeout_seconds=STALL_SECONDS, media_health_quiet_seconds=5.0
        ) as (media, media_url),
    ):
        yield running, media, media_url, Tokens(stack)


def new_stream_and_key(running: Running, tokens: Tokens) -> tuple[str, str, str]:
    """A stream, its streamer's key before the last rotation, and the current key."""
    headers = tokens.headers(STREAMER, {"streamer"})
    made = httpx.post(
        f"{running.url}/api/v1/streams", json={"title": "Ladder", "category": "games"},
        headers=headers, timeout=30,
    )  # fmt: skip
    assert made.status_code == 202, made.text
    keys = [
        httpx.post(f"{running.url}/api/v1/stream-key", headers=headers, timeout=30)
        for _ in range(2)
    ]
    assert all(answer.status_code == 201 for answer in keys)
    return str(made.json()["stream_id"]), keys[0].json()["stream_key"], keys[1].json()["stream_key"]


def push(media: Settings, key: str, seconds: float) -> subprocess.Popen[bytes]:
    """ffmpeg publishing a 720p30 test pattern and a tone over RTMP, in real time."""
    source = [
        "-re", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{media.rtmp_port}/live/{key}",
    ]  # fmt: skip
    return subprocess.Popen(ffmpeg.command(*source), stderr=subprocess.PIPE)


def refused(media: Settings, key: str) -> str:
    """ffmpeg's complaint when the server refuses its publish (it must exit with an error)."""
    attempt = push(media, key, 2)
    _, errors = attempt.communicate(timeout=60)
    assert attempt.returncode != 0, "a refused publisher must not succeed"
    return errors.decode(errors="replace")


def eventually(fetch: str, **headers: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(fetch, headers=headers, timeout=10)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_an_rtmp_publisher_goes_live_as_an_hls_ladder_and_is_recorded_to_s3(
    services: tuple[Running, Settings, str, Tokens], stack: Settings
) -> None:
    running, media, url, tokens = services
    stream_id, old_key, key = new_stream_and_key(running, tokens)

    assert "Server error" in refused(media, old_key)
    log = (stack.data_dir / "logs" / "media.log").read_text()
    assert fingerprint(old_key) in log and old_key not in log

    publisher = push(media, key, SECONDS)
    master = eventually(f"{url}/hls/{stream_id}/master.m3u8", **ORIGIN)
    assert master.status_code == 200, master.text
    assert master.headers["cache-control"] == "private, no-store"  # a session id per player
    assert master.headers["access-control-allow-origin"] in ("*", ORIGIN["Origin"])
    variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert [variant.split("/")[0] for variant in variants] == ["720p", "480p", "360p", "audio"]
    assert "RESOLUTION=1280x720" in master.text and "RESOLUTION=640x360" in master.text
    session = variants[0].split("?session=")[1]
    assert all(variant.endswith(f"?session={session}") for variant in variants)

    second = refused(media, key)  # while the first one is live
    assert "Server error" in second
    assert "already has a publisher" in (stack.data_dir / "logs" / "media.log").read_text()

    playlist = eventually(f"{url}/hls/{stream_id}/{variants[0]}")
    segments = [line for line in playlist.text.splitlines() if line.endswith(".ts")]
    assert "#EXT-X-TARGETDURATION:1" in playlist.text and segments
    assert playlist.headers["cache-control"] == "public, max-age=1"
    segment = httpx.get(f"{url}/hls/{stream_id}/720p/{segments[-1]}", headers=ORIGIN, timeout=10)
    assert segment.status_code == 200 and segment.headers["cache-control"] == SEGMENT_CACHE
    assert segment.headers["access-control-allow-origin"] in ("*", ORIGIN["Origin"])
    live = ffmpeg.probe(f"{url}/hls/{stream_id}/360p/index.m3u8", seconds=2)
    assert live.video == [(640, 360)] and live.audio_streams == 1

    assert publisher.wait(timeout=120) == 0, publisher.stderr and publisher.stderr.read()
    started = eventually_logged(stack, "media", stream_id, "IngestStarted")
    assert started.body["protocol"] == "rtmp" and started.body["codec"] == "h264"
    assert (started.body["width"], started.body["height"]) == (1280, 720)
    assert started.body["audio_codec"] == "aac" and 20 <= started.body["fps"] <= 40
    went_live = eventually_logged(stack, "stream", stream_id, "WentLive")
    assert went_live.body["ingest_id"] == started.body["ingest_id"]
    ended = eventually_logged(stack, "stream", stream_id, "Ended")
    assert ended.body["reason"] == "streamer_ended"
    stopped = eventually_logged(stack, "media", stream_id, "IngestStopped")
    assert stopped.body["reason"] == "ended"
    joined = eventually_logged(stack, "audience", stream_id, "ViewerJoined")
    left = eventually_logged(stack, "audience", stream_id, "ViewerLeft")
    assert left.body["session_id"] == joined.body["session_id"]

    recording = eventually_logged(stack, "media", stream_id, "RecordingFinished").body
    ingest = started.body["ingest_id"]
    assert (
        recording["recording_id"] == ingest and recording["bucket"] == media.media_recording_bucket
    )
    assert recording["s3_key"] == f"recordings/{stream_id}/{ingest}/master.m3u8"
    assert abs(recording["duration_ms"] - SECONDS * 1000) <= 1000 and recording["size_bytes"] > 0
    vod = httpx.get(f"{url}/vod/{stream_id}/{ingest}/720p/index.m3u8", timeout=10)
    assert vod.status_code == 200 and vod.text.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in vod.text
    played = ffmpeg.probe(f"{url}/vod/{stream_id}/{ingest}/720p/index.m3u8")
    assert played.video == [(1280, 720)] and played.audio_streams == 1
    assert abs(played.duration_seconds - SECONDS) <= 1.0
    assert httpx.get(f"{url}/hls/{stream_id}/master.m3u8", timeout=10).status_code == 404


def test_the_rtmp_port_takes_only_encoders_publishing_to_live(
    services: tuple[Running, Settings, str, Tokens],
) -> None:
    running, media, _, tokens = services
    with socket.create_connection(("127.0.0.1", media.rtmp_port), timeout=10) as http_client:
        http_client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".ljust(1537, b" "))
        assert http_client.recv(100) == b""  # not RTMP version 3: closed at once
    _, _, key = new_stream_and_key(running, tokens)
    wrong_app = subprocess.run(
        ffmpeg.command("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1",
                       "-c:v", "libx264", "-f", "flv",
                       f"rtmp://127.0.0.1:{media.rtmp_port}/other/{key}"),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert wrong_app.returncode != 0 and b"live" in wrong_app.stderr
    playing = subprocess.run(
        ffmpeg.command("-i", f"rtmp://127.0.0.1:{media.rtmp_port}/live/{key}", "-f", "null", "-"),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert playing.returncode != 0


def test_a_stalled_rtmp_publisher_ends_the_stream_as_lost(
    services: tuple[Running, Settings, str, Tokens], stack: Settings
) -> None:
    running, media, _, tokens = services
    stream_id, _, key = new_stream_and_key(running, tokens)
    publisher = push(media, key, 60)
    try:
        eventually_logged(stack, "stream", stream_id, "WentLive")
        publisher.send_signal(signal.SIGSTOP)  # the socket stays open, nothing arrives
        ended = eventually_logged(stack, "stream", stream_id, "Ended")
        assert ended.body["reason"] == "ingest_lost" and ended.actor_id == "system"
        stopped = eventually_logged(stack, "media", stream_id, "IngestStopped")
        assert stopped.body["reason"] == "disconnected"
    finally:
        publisher.kill()
        publisher.wait()
    assert eventually_logged(stack, "media", stream_id, "RecordingFinished")
    assert [event.name for event in logged(stack, "stream", stream_id)].count("Ended") == 1


def test_a_whip_publisher_is_watched_over_hls_and_recorded_for_as_long_as_it_was_live(
    services: tuple[Running, Settings, str, Tokens], stack: Settings
) -> None:
    """WHIP's encoded frames (VP8 320x240, Opus) are muxed into the ladder without decoding; a
    source below 360p gets the lowest rung only (4:3 kept: 480x360), and audio. The recording
    lasts as long as the stream was live (its frames' timestamps are their capture times)."""
    running, _, url, tokens = services
    stream_id, _, key = new_stream_and_key(running, tokens)

    async def publish() -> tuple[str, str]:
        publisher = Publisher(audio=True)
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await connect(http, f"{url}/whip/{stream_id}", publisher, key)
            master = await asyncio.to_thread(eventually, f"{url}/hls/{stream_id}/master.m3u8")
            assert master.status_code == 200, master.text
            await asyncio.sleep(WHIP_SECONDS)
            live = await asyncio.to_thread(
                ffmpeg.probe, f"{url}/hls/{stream_id}/360p/index.m3u8", 2
            )
            assert live.video == [(480, 360)] and live.audio_streams == 1
            location = answer.headers["location"]
            stopped = await http.delete(
                f"{url}{location}", headers={"Authorization": f"Bearer {key}"}
            )
            assert stopped.status_code == 200
        await publisher.peer.close()
        return master.text, location.rsplit("/", 1)[1]

    master, ingest = asyncio.run(publish())
    assert [line.split("?")[0] for line in master.splitlines() if line and line[0] != "#"] == [
        "360p/index.m3u8",
        "audio/index.m3u8",
    ]
    recording = eventually_logged(stack, "media", stream_id, "RecordingFinished").body
    assert recording["recording_id"] == ingest
    health = [e.body for e in logged(stack, "media", stream_id) if e.name == "IngestHealth"]
    assert health and all(h["ingest_id"] == ingest for h in health)  # every 5 s while live
    assert all(h["bitrate_kbps"] > 0 and h["fps"] > 0 for h in health), health
    # From going live (IngestStarted) to the DELETE; the recording starts at the keyframe
    # asked for then, and its segments are 1 s long.
    live_ms = eventually_logged(stack, "stream", stream_id, "Ended").body["duration_ms"]
    assert live_ms >= WHIP_SECONDS * 1000
    assert abs(recording["duration_ms"] - live_ms) <= 750, (recording, live_ms)
    vod = httpx.get(f"{url}/vod/{stream_id}/{ingest}/360p/index.m3u8", timeout=10)
    segments = listed_segments(vod.text)
    assert "#EXT-X-DISCONTINUITY" not in vod.text
    assert abs(len(segments) - live_ms / 1000) <= 1.5, [s.duration for s in segments]
    played = ffmpeg.probe(f"{url}/vod/{stream_id}/{ingest}/360p/index.m3u8")
    assert played.video == [(480, 360)] and played.audio_streams == 1
    assert abs(played.duration_seconds - recording["duration_ms"] / 1000) <= 1.0


def test_a_killed_media_process_loses_at_most_the_segment_being_written(
    services: tuple[Running, Settings, str, Tokens], stack: Settings
) -> None:
    """SIGKILL (its ffmpeg with it) while an RTMP stream is live: started again, the process
    finishes the recording from S3 and its live folder; every segment listed before the kill
    is in it."""
    running, _, _, tokens = services
    own = stack.model_copy(update={"media_port": free_port(), "rtmp_port": free_port()})
    spec = service(own, "media-salvage")
    media = RunningService(spec, log_to(stack.data_dir / "logs")(spec))
    media.start()
    try:
        stream_id, _, key = new_stream_and_key(running, tokens)
        publisher = push(own, key, 60)
        playlist = f"{local_url(own)}/hls/{stream_id}/720p/index.m3u8"
        listed: list[int] = []
        while len(listed) < 4 and publisher.poll() is None:
            answer = eventually(playlist)
            listed = [segment.sequence for segment in listed_segments(answer.text)]
            time.sleep(0.2)
        media.kill()
        publisher.kill()
        publisher.wait()
        ingest = eventually_logged(stack, "media", stream_id, "IngestStarted").body["ingest_id"]
        media.start()  # the same address, so the same media_instance
        recording = eventually_logged(stack, "media", stream_id, "RecordingFinished").body
        assert recording["recording_id"] == ingest
        vod = httpx.get(f"{local_url(own)}/vod/{stream_id}/{ingest}/720p/index.m3u8", timeout=10)
        assert vod.status_code == 200 and vod.text.rstrip().endswith("#EXT-X-ENDLIST")
        kept = [segment.sequence for segment in listed_segments(vod.text)]
        assert set(range(max(listed) + 1)) <= set(kept), (listed, kept)
        played = ffmpeg.probe(f"{local_url(own)}/vod/{stream_id}/{ingest}/720p/index.m3u8")
        assert abs(played.duration_seconds - recording["duration_ms"] / 1000) <= 1.0
    finally:
        media.stop()


def test_a_live_rtmp_ingest_reports_its_health_every_few_seconds(
    services: tuple[Running, Settings, str, Tokens], stack: Settings
) -> None:
    running, media, _, tokens = services
    stream_id, _, key = new_stream_and_key(running, tokens)
    publisher = push(media, key, HEALTH_SECONDS)
    assert publisher.wait(timeout=120) == 0, publisher.stderr and publisher.stderr.read()
    eventually_logged(stack, "media", stream_id, "IngestStopped")
    events = logged(stack, "media", stream_id)
    started = next(event for event in events if event.name == "IngestStarted")
    health = [event.body for event in events if event.name == "IngestHealth"]
    assert len(health) >= 2, health
    for measured in health:
        assert measured["ingest_id"] == started.body["ingest_id"]
        assert 50 <= measured["bitrate_kbps"] <= 50_000 and 15 <= measured["fps"] <= 45
        assert measured["interval_ms"] >= 5000 and measured["dropped_frames"] >= 0
    state = None
    views = []
    for event in events:  # the stream's ingest view, as the media fold shows it
        state, outputs = livefold.media.fold(state, event)
        views += [o.value for o in outputs if isinstance(o, Update) and o.key.endswith("/ingest")]
    live = [view for view in views if view["status"] == "live" and view["health_at"] is not None]
    assert [view["bitrate_kbps"] for view in live] == [m["bitrate_kbps"] for m in health]
    assert views[-1]["status"] == "stopped" and views[-1]["fps"] == health[-1]["fps"]
