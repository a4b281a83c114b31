"""Cutting clips: the media service reads `livefold.media.ClipCreated` in the consumer group
`livefold-media-clips` (so of several media processes one cuts each clip), takes the segments
of the clip's recording that cover its range (media/recordings.py), copies them into an MP4
with faststart, takes a JPEG thumbnail, stores both in S3 and appends `livefold.media.ClipReady`
(or `ClipFailed` with the reason). Offsets are ms from the recording's start.

No re-encoding: every segment starts on a keyframe, so the cut starts at the segment boundary
nearest the requested start (at most half a segment away) and ends where asked. A live clip's
last second may still be being written: its segments are waited for a few seconds.

The outcome's event id derives from the clip id, and the objects' keys too, so a clip cut again
after a crash (offsets are committed after the outcome is in Kafka) is the same event and the
same objects.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from livefold.media import CLIP_CREATED, CLIP_FAILED, CLIP_READY
from livefold.settings import Settings
from livefold.storage import object_store
from media import recordings
from media.background import BackgroundWorker
from media.recording import recording_prefix
from media.recordings import Segment, Timeline
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import EventReader, consumer_config
from streams.events import Event, new_event
from streams.producer import EventProducer

log = logging.getLogger(__name__)
GROUP = "livefold-media-clips"
LIVE_WAIT_SECONDS = 8.0  # for the segments of a live clip's last seconds
_OUTCOMES = uuid.UUID("3c0f8f5e-51d4-4b0e-9f7e-6a1d2c9b8e40")  # names outcome events' ids


class ClipRefused(Exception):
    """The clip cannot be cut; the reason is for its author."""


def clips_bucket(settings: Settings) -> str:
    return settings.s3_buckets[1]


def covering(timeline: Timeline, start: int, end: int) -> list[Segment]:
    """The segments from the boundary nearest `start` to the one holding `end`'s last frame."""
    segments = timeline.segments
    first = min(
        (i for i, s in enumerate(segments) if s.start_ms < end),
        key=lambda i: abs(segments[i].start_ms - start),
        default=None,
    )
    if first is None:
        return []
    return [s for s in segments[first:] if s.start_ms < end]


class ClipCutter(BackgroundWorker):
    name = "clip cutter"

    def __init__(self, settings: Settings, codec: Codec, producer: EventProducer):
        super().__init__()
        self.settings = settings
        self.codec = codec
        self.producer = producer
        self.store = object_store(settings)

    def work(self) -> None:
        consumer = Consumer(consumer_config(self.settings, GROUP))
        consumer.subscribe([event_topic("media")])
        reader = EventReader(consumer, self.codec, self.producer, wait=self.stopping.wait)
        try:
            while not self.stopping.is_set():
                records = reader.poll(50, 0.5)
                for record in records:
                    if record.event.type == CLIP_CREATED:
                        self.producer.append(self.cut(record.event)).result(30)
                if records:
                    reader.commit()
        finally:
            reader.close()

    def cut(self, clip: Event) -> Event:
        """The clip's outcome event, ClipReady or ClipFailed."""
        body = clip.body
        outcome: dict[str, Any]
        try:
            outcome = {"type": CLIP_READY, **self._cut(clip)}
        except ClipRefused as refused:
            outcome = {"type": CLIP_FAILED, "reason": str(refused)[:500]}
        except Exception as error:
            log.exception("clip %s of %s not cut", body["clip_id"], clip.stream_id)
            outcome = {"type": CLIP_FAILED, "reason": f"cutting failed: {error}"[:500]}
        event_type = outcome.pop("type")
        return new_event(
            event_type,
            stream_id=clip.stream_id,
            actor_id="system",
            event_id=str(uuid.uuid5(_OUTCOMES, str(body["clip_id"]))),
            clip_id=body["clip_id"],
            **outcome,
        )

    def _cut(self, clip: Event) -> dict[str, Any]:
        body = clip.body
        recording_id = body.get("recording_id")
        if not recording_id:
            raise ClipRefused("the clip names no recording")
        start, end = int(body["start_offset_ms"]), int(body["end_offset_ms"])
        segments = self._segments(clip.stream_id, str(recording_id), start, end)
        cut_start = segments[0].start_ms
        length = min(end, segments[-1].end_ms) - cut_start
        stem = f"clips/{clip.stream_id}/{body['clip_id']}"
        bucket = clips_bucket(self.settings)
        with tempfile.TemporaryDirectory(prefix="livefold-clip-") as folder:
            work = Path(folder)
            source = self.settings.media_recording_bucket
            joined = recordings.download(self.store, source, segments, work)
            video, picture = work / "clip.mp4", work / "clip.jpg"
            recordings.remux(joined, video, length)
            recordings.thumbnail(video, picture, min(1_000, length // 2))
            measured = recordings.duration_ms(video)
            self.store.fput_object(bucket, f"{stem}.mp4", str(video), content_type="video/mp4")
            self.store.fput_object(bucket, f"{stem}.jpg", str(picture), content_type="image/jpeg")
            size = video.stat().st_size
        return {
            "recording_id": recording_id,
            "bucket": bucket,
            "video_key": f"{stem}.mp4",
            "thumbnail_key": f"{stem}.jpg",
            "start_offset_ms": cut_start,
            "duration_ms": max(1, measured),
            "size_bytes": size,
        }

    def _segments(self, stream_id: str, recording_id: str, start: int, end: int) -> list[Segment]:
        prefix = recording_prefix(stream_id, recording_id) + "/"
        bucket = self.settings.media_recording_bucket
        deadline = time.monotonic() + LIVE_WAIT_SECONDS
        while True:
            found = recordings.timeline(self.store, bucket, prefix, recordings.RENDITIONS)
            # Only a recording being written gets more segments: the rest is answered at once.
            done = found.finished or not found.segments or found.length_ms >= end
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if not found.segments:
            raise ClipRefused(f"recording {recording_id} has no video in S3")
        segments = covering(found, start, end)
        if not segments or segments[-1].end_ms <= start:
            raise ClipRefused(
                f"the range {start}..{end} ms is outside recording {recording_id}"
                f" (0..{found.length_ms} ms)"
            )
        return segments
