"""What the log hears of this media process's ingests, through either door (WHIP or RTMP): the
lifecycle events, appended once each, and the closing of what a crashed run left open.

An ingest is reported once its media flows (media/whip_report.py for WHIP):
`livefold.media.IngestStarted` (codec, size, measured fps) and, if the stream was
scheduled, `livefold.stream.WentLive`; then its health as it changes (`IngestHealth`:
media/ingest_health.py). When it stops (WHIP DELETE, the connection failing, or no video for
`media_ingest_timeout_seconds`), `IngestStopped` and, for a reported ingest,
`livefold.stream.Ended` (streamer_ended after a DELETE, ingest_lost otherwise), so the existing
folds and sockets show the stream live and then ended; `RecordingFinished` once its recording
is stored.

A process killed with live ingests appends nothing. Started again, it reads in the log which
ingests it held (`media_instance`) and left open: it appends their `IngestStopped` (error), and
a live stream whose publisher does not come back within `media_ingest_timeout_seconds` ends as
ingest_lost; one that comes back goes on as the same stream (docs/media.md, "After a crash").
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Container
from concurrent.futures import Future
from typing import Any, Protocol

from livefold.media import INGEST_HEALTH, RECORDING_FINISHED
from livefold.settings import Settings
from livefold.stream import ENDED, WENT_LIVE
from livefold.stream_keys import INGEST_STARTED, INGEST_STOPPED
from media.directory import LogDirectory
from media.ingest_health import IngestHealth
from media.recording import Recording
from media.rtmp_ingest import IngestReport
from streams.codec import Codec
from streams.events import Event, new_event
from streams.producer import EventProducer

log = logging.getLogger(__name__)


class IngestSession(Protocol):
    """A publishing session through either door: WHIP (`Publisher`) or RTMP (`RtmpIngest`)."""

    session_id: str
    stream_id: str
    streamer: str

    async def close(self) -> None: ...


class IngestLog:
    def __init__(self, settings: Settings, codec: Codec, directory: LogDirectory):
        self.settings = settings
        self.codec = codec
        self.directory = directory
        self.instance = settings.media_instance or f"{socket.gethostname()}:{settings.media_port}"
        self.producer: EventProducer | None = None
        self._reported: dict[str, int] = {}  # ingest (session) id -> when it went live (ms)
        # Live streams whose ingest a crashed run of this process held -> when they went live.
        self._resuming: dict[str, int] = {}
        self.recovered = False

    def open(self) -> EventProducer:
        self.producer = EventProducer(self.settings, self.codec, **{"linger.ms": 2})
        return self.producer

    def close(self) -> None:
        if self.producer is not None:
            self.producer.close()

    def reported(self, ingest: IngestSession) -> bool:
        return ingest.session_id in self._reported

    async def started(self, ingest: IngestSession, protocol: str, report: IngestReport) -> None:
        """IngestStarted, and WentLive for a scheduled stream."""
        self._reported[ingest.session_id] = self._resuming.pop(
            ingest.stream_id, int(time.time() * 1000)
        )
        await self.append(
            INGEST_STARTED,
            ingest.stream_id,
            ingest.streamer,
            ingest_id=ingest.session_id,
            protocol=protocol,
            **vars(report),
            media_instance=self.instance,
        )
        if self.directory.status(ingest.stream_id) == "scheduled":
            await self.append(
                WENT_LIVE, ingest.stream_id, ingest.streamer, ingest_id=ingest.session_id
            )

    async def health(self, ingest: IngestSession, health: IngestHealth) -> None:
        """A reported ingest's latest health (`IngestHealth`)."""
        if self.reported(ingest):
            await self.append(
                INGEST_HEALTH,
                ingest.stream_id,
                ingest.streamer,
                ingest_id=ingest.session_id,
                **vars(health),
            )

    async def stopped(self, ingest: IngestSession, why: str, end_reason: str) -> None:
        """IngestStopped for a reported ingest; Ended for its stream, or for the stream a
        crashed run left live that this ingest was resuming."""
        actor = ingest.streamer if why == "ended" else "system"
        live_at = self._reported.pop(ingest.session_id, None)
        if live_at is not None:
            await self.append(
                INGEST_STOPPED, ingest.stream_id, actor, ingest_id=ingest.session_id, reason=why
            )
        else:  # never reported; if it was resuming a stream after a crash, that stream ends
            live_at = self._resuming.pop(ingest.stream_id, None)
        if live_at is not None:
            await self._end_stream(ingest.stream_id, actor, end_reason, live_at)

    async def recorded(self, stream_id: str, ingest_id: str, recording: Recording | None) -> None:
        if recording is not None:
            await self.append(
                RECORDING_FINISHED,
                stream_id,
                "system",
                recording_id=ingest_id,
                bucket=recording.bucket,
                s3_key=recording.master_key,
                duration_ms=recording.duration_ms,
                size_bytes=recording.size_bytes,
            )

    async def _end_stream(self, stream_id: str, actor: str, reason: str, live_at: int) -> None:
        if self.directory.status(stream_id) != "ended":
            duration = int(time.time() * 1000) - live_at
            await self.append(ENDED, stream_id, actor, reason=reason, duration_ms=duration)

    async def recover(
        self, publishing: Container[str], salvage: Callable[[str, str], None]
    ) -> None:
        """Close what a crashed run of this process left in the log (before taking requests):
        each open ingest stops (error) and its recording is `salvage`d; each live stream ends as
        ingest_lost unless it is `publishing` again within the ingest timeout."""
        while not self.directory.ready:
            await asyncio.sleep(0.05)
        left = self.directory.left_by(self.instance)
        now = int(time.time() * 1000)
        for stream_id, _, entry in left:
            if entry.status == "live":
                self._resuming[stream_id] = entry.live_at or now
        self.recovered = True
        for stream_id, ingest, _ in left:
            log.warning("ingest %s of %s was left open by a crash", ingest.ingest_id, stream_id)
            if ingest.open:
                await self.append(
                    INGEST_STOPPED, stream_id, "system", ingest_id=ingest.ingest_id, reason="error"
                )
                salvage(stream_id, ingest.ingest_id)
        await asyncio.sleep(self.settings.media_ingest_timeout_seconds)
        for stream_id in list(self._resuming):
            if stream_id not in publishing:
                live_at = self._resuming.pop(stream_id)
                await self._end_stream(stream_id, "system", "ingest_lost", live_at)

    async def append(self, event_type: str, stream_id: str, actor: str, **body: Any) -> None:
        assert self.producer is not None
        event = new_event(event_type, stream_id=stream_id, actor_id=actor, **body)
        try:
            await self.producer.append_async(event)
        except Exception:
            log.exception("could not append %s for %s", event_type, stream_id)

    def observed(self, event: Event) -> None:
        """Presence is observed, not acknowledged to anyone: appended without waiting."""
        if self.producer is None:
            return
        try:
            self.producer.append(event).add_done_callback(_log_failure)
        except Exception:
            log.exception("presence event not appended")


def _log_failure(future: Future[Any]) -> None:
    if future.exception() is not None:
        log.warning("presence event not appended: %s", future.exception())
