"""A thumbnail per live stream, refreshed while it is live: every `media_thumbnail_seconds` the
media service looks for a newer segment of each live recording in S3 (its smallest rendition),
takes a JPEG of that segment's first frame, stores it next to the recording
(`recordings/<stream>/<ingest>/thumbnails/<offset_ms:010d>.jpg`, a new key each time, so a
cached copy is never stale) and appends `livefold.media.ThumbnailCaptured`; the stream fold
shows the newest in the stream's view (`thumbnail`), and the gateway redirects
`GET /api/v1/streams/{id}/thumbnail` to it.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path

from livefold.media import THUMBNAIL_CAPTURED
from livefold.settings import Settings
from livefold.storage import object_store
from media import recordings
from media.background import BackgroundWorker
from media.directory import LogDirectory
from media.recording import recording_prefix
from streams.events import new_event
from streams.producer import EventProducer

log = logging.getLogger(__name__)
SMALLEST_FIRST = tuple(reversed(recordings.RENDITIONS))
_CAPTURES = uuid.UUID("8b7d0b0c-3f5e-4f4a-a1c2-5d7e9f10b2a6")  # names capture events' ids


class Thumbnailer(BackgroundWorker):
    name = "thumbnailer"

    def __init__(self, settings: Settings, directory: LogDirectory, producer: EventProducer):
        super().__init__()
        self.settings = settings
        self.directory = directory
        self.producer = producer
        self.store = object_store(settings)
        self.bucket = settings.media_recording_bucket
        self._newest: dict[tuple[str, str], str] = {}  # live recording -> newest segment key

    def work(self) -> None:
        while not self.stopping.wait(self.settings.media_thumbnail_seconds):
            live = self.directory.live_recordings()
            self._newest = {key: self._newest.get(key, "") for key in live}
            for stream_id, ingest_id in live:
                try:
                    self.refresh(stream_id, ingest_id)
                except Exception:
                    log.exception("no thumbnail of %s this time", stream_id)

    def refresh(self, stream_id: str, ingest_id: str) -> bool:
        """Capture the recording's newest segment if it is newer than the last one captured."""
        prefix = recording_prefix(stream_id, ingest_id) + "/"
        newest = self._newest.get((stream_id, ingest_id), "")
        segments: list[recordings.Segment] = []
        for rendition in SMALLEST_FIRST:
            folder = f"{prefix}{rendition}/"
            if newest and not newest.startswith(folder):
                continue
            segments = recordings.segments_after(self.store, self.bucket, folder, newest)
            if segments:
                break
        if not segments:
            return False
        segment = segments[-1]
        self._newest[(stream_id, ingest_id)] = segment.key
        key = f"{prefix}thumbnails/{segment.start_ms:010d}.jpg"
        with tempfile.TemporaryDirectory(prefix="livefold-thumbnail-") as folder:
            work = Path(folder)
            joined = recordings.download(self.store, self.bucket, [segment], work)
            picture = work / "thumbnail.jpg"
            recordings.thumbnail(joined, picture)
            self.store.fput_object(self.bucket, key, str(picture), content_type="image/jpeg")
        event = new_event(
            THUMBNAIL_CAPTURED,
            stream_id=stream_id,
            actor_id="system",
            event_id=str(uuid.uuid5(_CAPTURES, key)),
            recording_id=ingest_id,
            bucket=self.bucket,
            s3_key=key,
            offset_ms=segment.start_ms,
        )
        self.producer.append(event).result(30)
        return True
