"""The media fold's ingest view (`<stream>/ingest` on the media channel): what the media service
measured when video started, then when and why it stopped; the control panel's stream health
for any encoder (WHIP, RTMP)."""

from __future__ import annotations

from livefold import media
from livefold.folding import Update
from tests.fold_events import again, at, event, run

STARTED = "livefold.media.IngestStarted"
STOPPED = "livefold.media.IngestStopped"
HEALTH = "livefold.media.IngestHealth"


def started(t: float, ingest_id: str = "i1") -> object:
    return event(
        STARTED, t, actor="system", ingest_id=ingest_id, protocol="rtmp", codec="H264",
        width=1280, height=720, fps=29.97, audio_codec="aac", media_instance="media-1",
    )  # fmt: skip


def ingest_views(outputs: list[object]) -> list[dict[str, object]]:
    return [o.value for o in outputs if isinstance(o, Update) and o.key == "s1/ingest"]


def test_an_ingest_shows_its_measures_once_live_and_why_it_stopped() -> None:
    first = started(1)
    stop = event(STOPPED, 9, actor="system", ingest_id="i1", reason="disconnected")
    states, outputs = run(media, first, again(first), stop)
    live, stopped = ingest_views(outputs)
    assert live == {
        "stream_id": "s1", "ingest_id": "i1", "status": "live", "protocol": "rtmp",
        "codec": "H264", "width": 1280, "height": 720, "fps": 29.97, "audio_codec": "aac",
        "bitrate_kbps": None, "dropped_frames": 0, "health_at": None,
        "started_at": int(at(1).timestamp() * 1000), "stopped_at": None, "stop_reason": None,
    }  # fmt: skip
    assert stopped["status"] == "stopped" and stopped["stop_reason"] == "disconnected"
    assert stopped["stopped_at"] == int(at(9).timestamp() * 1000)
    assert states["s1"]["ingest"] == stopped


def test_a_stop_of_another_ingest_changes_nothing() -> None:
    other = event(STOPPED, 2, actor="system", ingest_id="i1", reason="ended")
    _, outputs = run(media, started(1, "i2"), other)
    assert [view["status"] for view in ingest_views(outputs)] == ["live"]


def health(t: float, kbps: float, fps: float, dropped: int, ingest_id: str = "i1") -> object:
    return event(
        HEALTH, t, actor="system", ingest_id=ingest_id, bitrate_kbps=kbps, fps=fps,
        dropped_frames=dropped, interval_ms=5000,
    )  # fmt: skip


def test_the_live_ingest_shows_its_latest_health() -> None:
    first, second = health(6, 2500.0, 29.5, 0), health(11, 1800.0, 24.0, 12)
    states, outputs = run(media, started(1), first, again(first), second)
    _, after_first, latest = ingest_views(outputs)
    assert (after_first["bitrate_kbps"], after_first["fps"]) == (2500.0, 29.5)
    assert latest["bitrate_kbps"] == 1800.0 and latest["fps"] == 24.0
    assert latest["dropped_frames"] == 12 and latest["status"] == "live"
    assert latest["health_at"] == int(at(11).timestamp() * 1000)
    assert states["s1"]["ingest"] == latest


def test_health_of_another_or_a_stopped_ingest_changes_nothing() -> None:
    stop = event(STOPPED, 9, actor="system", ingest_id="i2", reason="ended")
    late = health(10, 900.0, 10.0, 3, "i2")
    states, outputs = run(media, started(1, "i2"), health(2, 1.0, 1.0, 0, "i1"), stop, late)
    assert [view["status"] for view in ingest_views(outputs)] == ["live", "stopped"]
    assert states["s1"]["ingest"]["bitrate_kbps"] is None
