"""The viewer app's HLS fallback, quality picker and clip page in a real browser (Debian's
chromium driven by web/tests/media_pages.mjs), against a gateway serving the app, the fold
worker, the analytics sink and a media process fed by ffmpeg over RTMP.

An RTMP stream is watched over HLS (the media service answers WHEP with 404), so the app's
player tries WHEP, falls back to hls.js, lists the ladder's renditions in its quality picker,
and switching rendition changes the picture's height; a browser without WebRTC goes straight
to HLS. While live, viewers chat; once the stream ended, a clip of the recording is cut and its
page plays the MP4 with the chat replayed in step: seeked to a point, it shows the clip's
messages said up to there and none said later or before the clip."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from livefold_sdk import Call, Livefold, NotFound

from gateway.web_app import BUILD
from infra.service import free_port
from livefold.settings import Settings
from media import ffmpeg
from tests.analytics_support import Sink
from tests.browsers import SHOTS, run_script
from tests.gateways import eventually
from tests.media_peers import media_process
from tests.sdk_support import LiveGateway, live_gateway, make_streamer
from tests.test_web_app import known, register, signed_in

MEDIA_PAGES = "tests/media_pages.mjs"
CLIP_START_MS, CLIP_END_MS = 4_000, 12_000

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    settings = folded.model_copy(update={"media_port": free_port(), "rtmp_port": free_port()})
    sink = Sink(settings)  # the chat replay reads ClickHouse's copy of the log
    sink.start()
    try:
        with (
            media_process(settings, media_port=settings.media_port,
                          rtmp_port=settings.rtmp_port),
            live_gateway(settings, tmp_path_factory.mktemp("web-media")) as running,
        ):  # fmt: skip
            yield running
    finally:
        sink.stop()


def push(rtmp_port: int, key: str) -> subprocess.Popen[bytes]:
    """ffmpeg publishing a 480p test pattern and a tone over RTMP, in real time, until stopped:
    the ladder makes 480p and 360p (and audio) of it."""
    source = [
        "-re", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=15",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/{key}",
    ]  # fmt: skip
    return subprocess.Popen(ffmpeg.command(*source), stderr=subprocess.DEVNULL)


def chat_along(people: list[Livefold], stream_id: str, stop: threading.Event) -> None:
    """A line about every 0.8 s until `stop`, so the recording has chat all along it."""
    index = 0
    while not stop.wait(0.8):
        index += 1
        people[index % len(people)].send_chat(stream_id, f"line {index:02d} of the chat")


def replayed_messages(client: Livefold, stream_id: str, recording_id: str) -> list[dict[str, Any]]:
    page = client.replay(stream_id, recording_id=recording_id, limit=200)
    return [item for item in page["items"] if item["type"] == "message"]


def cut(client: Livefold, clip_id: str) -> dict[str, Any] | None:
    """The clip once the media service has cut it (or failed to)."""
    try:
        found: dict[str, Any] = client.clip(clip_id)
    except NotFound:  # its ClipCreated is not folded yet
        return None
    return found if found["status"] != "processing" else None


def checkpoints(clip: dict[str, Any], said: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points of the clip (seconds into it) halfway between two messages, each with the texts
    the replay must show there and those it must not: later ones and those before the clip."""
    start, end = clip["start_offset_ms"], clip["start_offset_ms"] + clip["duration_ms"]
    inside = [m for m in said if start <= m["offset_ms"] <= end - 800]
    before = [m["message"]["text"] for m in said if m["offset_ms"] < start]
    assert len(inside) >= 5 and before, (clip, said)
    points = []
    for index in (0, len(inside) // 2, len(inside) - 2):
        halfway = (inside[index]["offset_ms"] + inside[index + 1]["offset_ms"]) / 2
        texts = [m["message"]["text"] for m in inside]
        points.append({
            "seconds": round((halfway - start) / 1000, 3),
            "shown": texts[: index + 1],
            "hidden": texts[index + 1 :] + before,
        })  # fmt: skip
    return [points[2], points[0], points[1]]  # the end first: seeking back hides what came after


def test_an_rtmp_stream_plays_over_hls_with_a_quality_picker_and_its_clip_replays_the_chat(
    live: LiveGateway,
) -> None:
    streamer_id, streamer_name = register(live.url, "streamer", "Rhea Retro")
    _, chatter_name = register(live.url, "chatter", "Otto")
    make_streamer(live, streamer_id)
    with signed_in(live, streamer_name) as streamer, signed_in(live, chatter_name) as chatter:
        stream_id = str(streamer.create_stream("Retro ladder night", "Games")["stream_id"])
        eventually(lambda: known(streamer, stream_id))
        key = str(streamer.request(Call("POST", "/stream-key"))["stream_key"])
        publisher = push(live.settings.rtmp_port, key)
        stop = threading.Event()
        talk = threading.Thread(target=chat_along, args=([streamer, chatter], stream_id, stop))
        try:
            eventually(lambda: streamer.stream(stream_id)["status"] == "live", timeout=60)
            talk.start()
            watched = run_script(MEDIA_PAGES, 150, APP_URL=live.url, STREAM_ID=stream_id)
            # A recording well past the clip's end (12 s), with a line of chat about every second.
            eventually(lambda: len(streamer.chat_history(stream_id)["items"]) >= 20, timeout=60)
        finally:
            stop.set()
            if talk.is_alive():
                talk.join(10)
            publisher.terminate()
            publisher.wait(30)

        assert watched["whep_statuses"] == [404], watched  # an RTMP stream is not offered over WHEP
        assert watched["levels"] == ["Auto", "480p", "360p"], watched
        assert watched["heights"] == {"360p": 360, "480p": 480}, watched
        assert watched["no_webrtc_played_seconds"] > 0.5 and watched["no_webrtc_whep"] == 0

        vod = eventually(lambda: streamer.recordings(stream_id)["items"], timeout=60)[0]
        recording_id = str(vod["recording_id"])
        asked = streamer.create_clip(
            stream_id, "The ladder in motion", recording_id=recording_id,
            start_offset_ms=CLIP_START_MS, end_offset_ms=CLIP_END_MS,
        )  # fmt: skip
        clip = eventually(lambda: cut(streamer, str(asked["clip_id"])), timeout=60)
        assert clip["status"] == "ready", clip
        sent = len(streamer.chat_history(stream_id, limit=200)["items"])
        said = eventually(
            lambda: (
                len(found := replayed_messages(streamer, stream_id, recording_id)) >= sent - 2
                and found
            ),
            timeout=60,
        )  # what was said after the recording's end is not in it
        points = checkpoints(clip, said)
        replayed = run_script(
            MEDIA_PAGES, 150, APP_URL=live.url, CLIP_URL=f"{live.url}/clip/{clip['clip_id']}",
            CHECKPOINTS=json.dumps(points),
        )  # fmt: skip
        assert replayed["clip_played_seconds"] > 0.5, replayed
        assert replayed["checked"] == [p["seconds"] for p in points], replayed
    for name in ("watch-hls-desktop", "clip-desktop"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000
