"""Clips, thumbnails, VODs and chat replay through real processes: the fold worker, the
analytics sink, a gateway and a media process on the test stack, fed by ffmpeg over RTMP.

While the stream is live and viewers chat, its thumbnail is a JPEG that is refreshed, and a clip
of its last seconds is cut by the media service into an MP4 whose measured duration is within a
second of the asked one; bad clip requests get 4xx with a reason. Once it ended, the VOD plays
through its playlist, a clip of a range of it is cut, and the chat replay gives each message at
its offset from the recording's start, without the one that was deleted.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from agents import analytics
from infra.service import RunningService
from livefold.settings import Settings
from media import ffmpeg
from tests.gateways import Running, Tokens, eventually, gateway
from tests.media_peers import media_process
from tests.servers import log_to

STREAMER, VIEWER = "streamer-vod", "viewer-vod"
RENDITION = "360p"  # the ladder's one rung for a 320x240 source
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(folded: Settings) -> Iterator[tuple[Running, Settings, Tokens]]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 100.0})
    sink = analytics.service(settings)
    with (
        media_process(settings, media_thumbnail_seconds=1.0) as (media, media_url),
        gateway(settings, "gateway-vod", media_public_url=media_url) as running,
    ):
        handle = RunningService(sink, log_to(settings.data_dir / "logs")(sink))
        handle.start()
        try:
            yield running, media, Tokens(settings)
        finally:
            handle.stop()


def push(media: Settings, key: str) -> subprocess.Popen[bytes]:
    """ffmpeg publishing a small test pattern and a tone over RTMP, in real time, until stopped."""
    source = [
        "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{media.rtmp_port}/live/{key}",
    ]  # fmt: skip
    return subprocess.Popen(ffmpeg.command(*source), stderr=subprocess.DEVNULL)


def api(running: Running, tokens: Tokens, method: str, path: str, user: str | None = None,
        **options: Any) -> httpx.Response:  # fmt: skip
    headers = tokens.headers(user, {"streamer"} if user == STREAMER else None) if user else {}
    return httpx.request(method, f"{running.url}/api/v1{path}", headers=headers, timeout=30,
                         **options)  # fmt: skip


def fetched(running: Running, path: str) -> bytes:
    """An object the gateway redirects to (a presigned S3 URL), downloaded."""
    answer = httpx.get(f"{running.url}/api/v1{path}", timeout=30)
    assert answer.status_code == 302, answer.text
    body = httpx.get(answer.headers["location"], timeout=30)
    assert body.status_code == 200, body.text
    return body.content


def measured_ms(data: bytes, folder: Path, name: str) -> int:
    path = folder / name
    path.write_bytes(data)
    with av.open(str(path)) as container:
        assert container.streams.video, "no video in the clip"
        return round((container.duration or 0) / 1000)


def is_jpeg(data: bytes, folder: Path) -> bool:
    path = folder / "picture.jpg"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return data[:2] == b"\xff\xd8" and frame.width > 0


def ready_clip(running: Running, tokens: Tokens, clip_id: str) -> dict[str, Any]:
    def outcome() -> Any:
        answer = api(running, tokens, "GET", f"/clips/{clip_id}")
        body = answer.json() if answer.status_code == 200 else {}
        return body if body.get("status") in ("ready", "failed") else None

    found: dict[str, Any] = eventually(outcome, 60)
    assert found["status"] == "ready", found
    return found


def test_a_recorded_stream_gives_thumbnails_clips_a_vod_and_its_chat_replay(
    services: tuple[Running, Settings, Tokens], tmp_path: Path
) -> None:
    running, media, tokens = services
    silent = api(running, tokens, "POST", "/streams", STREAMER,
                 json={"title": "No video", "category": "games"}).json()["stream_id"]  # fmt: skip
    made = api(running, tokens, "POST", "/streams", STREAMER,
               json={"title": "Clip me", "category": "games"})  # fmt: skip
    assert made.status_code == 202, made.text
    stream_id = made.json()["stream_id"]
    key = api(running, tokens, "POST", "/stream-key", STREAMER).json()["stream_key"]
    eventually(lambda: api(running, tokens, "GET", f"/streams/{stream_id}").status_code == 200)
    no_media = api(running, tokens, "POST", f"/streams/{silent}/clips", VIEWER,
                   json={"title": "nothing", "last_ms": 30_000})  # fmt: skip
    assert no_media.status_code == 409 and "no recording" in no_media.json()["reason"]

    publisher = push(media, key)
    try:

        def went_live() -> Any:
            view = api(running, tokens, "GET", f"/streams/{stream_id}").json()
            return view["status"] == "live" and view["live_at"]

        live_at = eventually(went_live, 60)
        chat = f"/streams/{stream_id}/chat"
        said = {}
        for text in ("first!", "delete me", "what a jump"):
            sent = api(running, tokens, "POST", chat, VIEWER, json={"text": text})
            assert sent.status_code == 202, sent.text
            said[text] = sent.json()["message_id"]
            time.sleep(0.7)
        assert api(running, tokens, "POST", f"/streams/{stream_id}/reactions", VIEWER,
                   json={"kind": "fire", "count": 2}).status_code == 202  # fmt: skip
        polls = f"/streams/{stream_id}/polls"
        poll = {"question": "Jump again?", "options": [{"option_id": "y", "text": "yes"},
                {"option_id": "n", "text": "no"}], "duration_seconds": 600}  # fmt: skip
        poll_id = api(running, tokens, "POST", polls, STREAMER, json=poll).json()["poll_id"]
        assert api(running, tokens, "POST", f"{polls}/{poll_id}/open", STREAMER).status_code == 202
        opened = lambda: api(running, tokens, "GET", f"{polls}/{poll_id}").json()  # noqa: E731
        eventually(lambda: opened().get("status") == "open")
        vote = {"option_ids": ["y"]}
        assert (
            api(running, tokens, "POST", f"{polls}/{poll_id}/votes", VIEWER, json=vote).status_code
            == 202
        )
        eventually(lambda: len(api(running, tokens, "GET", chat).json()["items"]) == 3)
        gone = api(running, tokens, "DELETE", f"{chat}/{said['delete me']}", VIEWER)
        assert gone.status_code == 202, gone.text
        eventually(lambda: len(api(running, tokens, "GET", chat).json()["items"]) == 2)
        at = {m["text"]: m["at"] for m in api(running, tokens, "GET", chat).json()["items"]}

        # The live thumbnail: taken again from the newest segment while live, a JPEG.
        def thumbnail() -> Any:
            return api(running, tokens, "GET", f"/streams/{stream_id}").json()["thumbnail"]

        first = eventually(thumbnail, 30)
        assert is_jpeg(fetched(running, f"/streams/{stream_id}/thumbnail"), tmp_path)
        eventually(lambda: thumbnail()["at"] > first["at"], 30)

        # A clip of the live stream's last 5 seconds, and requests that cannot be clips.
        while time.time() * 1000 - live_at < 7_000:
            time.sleep(0.2)
        clips = f"/streams/{stream_id}/clips"
        bad = [
            ({"title": "too long", "last_ms": 120_000}, 422, "last_ms"),
            ({"title": "future", "start_offset_ms": 0, "end_offset_ms": 250_000}, 422,
             "past the end"),
            ({"title": "long", "start_offset_ms": 0, "end_offset_ms": 400_000}, 422, "5 minutes"),
            ({"title": "who", "recording_id": "ingest-none", "start_offset_ms": 0,
              "end_offset_ms": 1000}, 404, "ingest-none"),
        ]  # fmt: skip
        for body, status, reason in bad:
            answer = api(running, tokens, "POST", clips, VIEWER, json=body)
            assert answer.status_code == status and reason in answer.text, (body, answer.text)
        asked = api(running, tokens, "POST", clips, VIEWER, json={"title": "live", "last_ms": 5000})
        assert asked.status_code == 202, asked.text
        clip = ready_clip(running, tokens, asked.json()["clip_id"])
        assert abs(clip["duration_ms"] - 5000) <= 1000, clip
        video = fetched(running, f"/clips/{clip['clip_id']}/video")
        assert abs(measured_ms(video, tmp_path, "live.mp4") - clip["duration_ms"]) <= 1000
        assert is_jpeg(fetched(running, f"/clips/{clip['clip_id']}/thumbnail"), tmp_path)
    finally:
        publisher.terminate()
        publisher.wait(30)

    # Ended: the recording is listed with its duration and plays from its VOD playlist.
    vods = f"/streams/{stream_id}/vods"
    (vod,) = eventually(lambda: api(running, tokens, "GET", vods).json()["items"], 60)
    started_at = vod["started_at"]  # the ingest's start, just before it went live
    assert 0 <= live_at - started_at < 2_000 and vod["duration_ms"] > 7_000, (vod, live_at)
    master = httpx.get(vod["playlist_url"], timeout=30)
    assert master.status_code == 200 and f"{RENDITION}/index.m3u8" in master.text
    base = vod["playlist_url"].rsplit("/", 1)[0]
    playlist = httpx.get(f"{base}/{RENDITION}/index.m3u8", timeout=30)
    assert "#EXT-X-ENDLIST" in playlist.text, playlist.text

    # A clip of a range of the VOD.
    body = {"title": "replayed", "start_offset_ms": 2000, "end_offset_ms": 5000}
    asked = api(running, tokens, "POST", clips, VIEWER, json=body)
    assert asked.status_code == 202, asked.text
    clip = ready_clip(running, tokens, asked.json()["clip_id"])
    assert clip["recording_id"] == vod["recording_id"], clip
    assert abs(clip["start_offset_ms"] - 2000) <= 500 and abs(clip["duration_ms"] - 3000) <= 1000
    video = fetched(running, f"/clips/{clip['clip_id']}/video")
    assert abs(measured_ms(video, tmp_path, "vod.mp4") - 3000) <= 1000

    # Chat replay: each message at its offset from the recording's start, not the deleted one.
    replay = f"/streams/{stream_id}/replay"

    def replay_page(**params: Any) -> Any:
        answer = api(running, tokens, "GET", replay, params={"limit": 2, **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def replayed() -> Any:
        pages = [replay_page()]
        while pages[-1]["next_cursor"]:
            pages.append(replay_page(cursor=pages[-1]["next_cursor"]))
        found = [item for page in pages for item in page["items"]]
        voted = any(item["type"] == "poll" and item["poll"]["voters"] for item in found)
        return found if voted and any(item["type"] == "reaction" for item in found) else None

    items = eventually(replayed, 60)
    assert replay_page()["origin"] == started_at
    messages = [item for item in items if item["type"] == "message"]
    assert [m["message"]["text"] for m in messages] == ["first!", "what a jump"]
    for item in messages:
        assert item["offset_ms"] == at[item["message"]["text"]] - started_at
    (reaction,) = [item for item in items if item["type"] == "reaction"]
    assert (reaction["kind"], reaction["count"]) == ("fire", 2)
    poll_states = [(i["poll"]["status"], i["poll"]["voters"]) for i in items if i["type"] == "poll"]
    assert poll_states == [("created", 0), ("open", 0), ("open", 1)], poll_states
    assert [item["offset_ms"] for item in items] == sorted(item["offset_ms"] for item in items)
    later = replay_page(limit=10, from_ms=messages[1]["offset_ms"])["items"]
    assert [i["message"]["text"] for i in later if i["type"] == "message"] == ["what a jump"]
    empty = api(running, tokens, "GET", replay, params={"from_ms": 5, "to_ms": 5})
    assert empty.status_code == 422, empty.text
