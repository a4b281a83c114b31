"""The ingest's health meter (media/ingest_health.py): bitrate and fps over each interval, and
video frames missing from the encoder's timestamps."""

from __future__ import annotations

from media.ingest_health import HealthMeter


def test_an_interval_reports_its_bitrate_fps_and_the_frames_missing_so_far() -> None:
    start = 1000.0
    meter = HealthMeter(nominal_fps=30.0, every_seconds=5.0, now=start)
    timestamps = [round(i * 1000 / 30) for i in range(150) if not 60 <= i < 70]  # 10 dropped
    for timestamp in timestamps:
        meter.on_bytes(2500)
        meter.on_video_frame(timestamp)
    assert meter.due(start + 4.9) is None  # not yet: the interval goes on
    health = meter.due(start + 5.0)
    assert health is not None
    assert health.bitrate_kbps == round(140 * 2500 * 8 / 5.0 / 1000, 1)  # 560 kbit/s
    assert health.fps == 28.0 and health.dropped_frames == 10 and health.interval_ms == 5000
    meter.on_video_frame(5000)
    after = meter.due(start + 10.0)
    assert after is not None and after.fps == 0.2 and after.bitrate_kbps == 0.0
    assert after.dropped_frames == 10  # counted since the start


def test_a_steady_stream_with_millisecond_timestamps_drops_nothing() -> None:
    meter = HealthMeter(nominal_fps=29.97)
    for i in range(300):
        meter.on_video_frame(round(i * 1000 / 29.97))
    assert meter.dropped == 0


def test_a_steady_ingest_is_reported_when_it_changes_or_every_quiet_interval() -> None:
    meter = HealthMeter(nominal_fps=30.0, every_seconds=5.0, quiet_seconds=30.0, now=0.0)
    reported: list[float] = []
    for interval in range(1, 15):  # 70 s of a steady 30 fps, 600 kbit/s ...
        kbps = 600 if interval < 10 else 900  # ... then 900 from 45 s on
        for frame in range(150):
            meter.on_bytes(kbps * 1000 // 8 * 5 // 150)
            meter.on_video_frame(round(((interval - 1) * 150 + frame) * 1000 / 30))
        health = meter.due(interval * 5.0)
        if health is not None:
            reported.append(interval * 5.0)
    assert reported == [5.0, 35.0, 50.0]  # the first, 30 s later, the change (not again)
