"""The media process's long-lived parts: the log directory (stream keys, stream lifecycles), the
producer, and every publisher session (its viewers: media/viewers.py), with the lifecycle events
they cause.

A publisher is reported once its media flows (media/whip_report.py for WHIP):
`livefold.media.IngestStarted` (codec, size, measured fps) and, if the stream was
scheduled, `livefold.stream.WentLive`; then its health as it changes (`IngestHealth`:
media/ingest_health.py). When it stops (WHIP DELETE, the connection failing, or no video for
`media_ingest_timeout_seconds`), `IngestStopped` and, for a reported ingest,
`livefold.stream.Ended` (streamer_ended after a DELETE, ingest_lost otherwise), so the existing
folds and sockets show the stream live and then ended.

A process killed with live ingests appends nothing. Started again, it reads in the log which
ingests it held (`media_instance`) and left open: it appends their `IngestStopped` (error), and
a live stream whose publisher does not come back within `media_ingest_timeout_seconds` ends as
ingest_lost; one that comes back goes on as the same stream (docs/media.md, "After a crash").
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, Protocol

from livefold.access.local import LocalVerifier
from livefold.media import INGEST_HEALTH, RECORDING_FINISHED
from livefold.settings import Settings
from livefold.stream import ENDED, WENT_LIVE
from livefold.stream_keys import (
    INGEST_STARTED,
    INGEST_STOPPED,
    StreamEntry,
)
from media import whip_feed
from media.background import BackgroundWorker
from media.broadcast import Broadcasts
from media.clips import ClipCutter
from media.costream import GuestSession, Stages
from media.directory import LogDirectory
from media.hls import HlsAudience
from media.ingest_health import HealthMeter, IngestHealth
from media.peers import Publisher, add_candidates, on_closed
from media.pool import Busy
from media.recording import Recording
from media.rtmp_ingest import IngestReport
from media.thumbnails import Thumbnailer
from media.viewers import WhepViewers
from media.whip_report import flowing, ingest_report
from streams.codec import Codec
from streams.events import Event, new_event
from streams.presence import PresenceLog
from streams.producer import EventProducer

log = logging.getLogger(__name__)
CONNECT_SECONDS = 30.0  # from the offer to the first frame: ICE and DTLS under load


class Conflict(RuntimeError):
    pass


class IngestSession(Protocol):
    """A publishing session through either door: WHIP (`Publisher`) or RTMP (`RtmpIngest`)."""

    session_id: str
    stream_id: str
    streamer: str

    async def close(self) -> None: ...


class MediaRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.instance = settings.media_instance or f"{socket.gethostname()}:{settings.media_port}"
        self.codec = Codec.from_settings(settings)
        self.directory = LogDirectory(settings, self.codec)
        self.producer: EventProducer | None = None
        self.publishers: dict[str, IngestSession] = {}  # stream id -> its publisher, either door
        # Each WHEP session is a viewer, counted by the audience fold like a gateway's sockets.
        self.presence = PresenceLog(self._observed, settings.gateway_presence_heartbeat_seconds)
        self.viewers = WhepViewers(
            settings.media_fanout_processes,
            settings.media_max_viewers,
            self._keyframe_wanted,
            self.presence,
        )
        self.pool = self.viewers.pool
        self.stages = Stages(
            self.directory, self.pool, self._append, settings.media_ingest_timeout_seconds
        )
        self._verifier: LocalVerifier | None = None
        self._reported: dict[str, int] = {}  # publisher session id -> when it went live (ms)
        # Live streams whose ingest a crashed run of this process held -> when they went live.
        self._resuming: dict[str, int] = {}
        self._recovered = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.broadcasts = Broadcasts(settings)  # the HLS ladders and their recordings
        self.hls_audience = HlsAudience(self.presence)
        self.background: list[BackgroundWorker] = []  # threads: clips and thumbnails

    async def start(self) -> None:
        await asyncio.to_thread(self.codec.register_all)
        self.producer = EventProducer(self.settings, self.codec, **{"linger.ms": 2})
        await asyncio.to_thread(self.directory.start)
        await self.pool.start()
        self._spawn(self._beat())
        self._spawn(self._recover())
        self._spawn(self.hls_audience.sweep_forever())
        self.background = [
            ClipCutter(self.settings, self.codec, self.producer),
            Thumbnailer(self.settings, self.directory, self.producer),
        ]
        for worker in self.background:
            worker.start()

    async def stop(self) -> None:
        for publisher in list(self.publishers.values()):
            await self.end(publisher, "error", "error")
        self.presence.leave_all()  # before the producer's close, which delivers what is queued
        await self.pool.stop()
        for task in list(self._tasks):
            task.cancel()
        self.directory.stop()
        for worker in self.background:
            await asyncio.to_thread(worker.stop)
        if self.producer is not None:
            await asyncio.to_thread(self.producer.close)

    @property
    def ready(self) -> bool:
        return self.producer is not None and self.directory.ready and self._recovered

    def claim(self, stream_id: str) -> None:
        """Refuse a second publisher of a stream, or one more than this process takes."""
        if stream_id in self.publishers:
            raise Conflict(f"stream {stream_id!r} already has a publisher")
        if len(self.publishers) >= self.settings.media_max_publishers:
            raise Busy(f"this media process has {len(self.publishers)} publishers, its most")

    async def publish(
        self, entry: StreamEntry, stream_id: str, offer: str
    ) -> tuple[Publisher, str]:
        self.claim(stream_id)
        publisher = Publisher(stream_id, entry.streamer)
        self.publishers[stream_id] = publisher
        try:
            answer = await publisher.accept(offer)
        except BaseException:
            del self.publishers[stream_id]
            await publisher.peer.close()
            raise

        async def closed(state: str) -> None:
            await self.end(publisher, "disconnected", "ingest_lost")

        on_closed(publisher.peer, closed)
        codec_name = publisher.video_codec.name if publisher.video_codec else ""

        def to_fanout(kind: str, frame: bytes, timestamp: int) -> None:
            self.pool.feed(stream_id, 0, codec_name, kind, frame, timestamp)

        publisher.stage.taps.append(to_fanout)
        gc.freeze()  # the session's long-lived objects: out of the collector's scans
        self._spawn(self._watch(publisher))
        return publisher, answer

    async def trickle(self, stream_id: str, session_id: str, fragment: str) -> None:
        """Trickled ICE candidates of a WHIP publisher; LookupError if there is none."""
        publisher = self.publishers.get(stream_id)
        if not isinstance(publisher, Publisher) or publisher.session_id != session_id:
            raise LookupError(f"no WHIP publishing session {session_id!r} on {stream_id!r}")
        await add_candidates(publisher.peer, fragment)

    async def watch(
        self, stream_id: str, offer: str, user_agent: str | None = None
    ) -> tuple[str, str]:
        """(session id, answer): a fan-out process answers the viewer's offer."""
        publisher = self.publishers.get(stream_id)
        if publisher is None:
            raise LookupError(f"stream {stream_id!r} is not live here")
        if not isinstance(publisher, Publisher) or publisher.video_codec is None:
            raise LookupError(
                f"stream {stream_id!r} is not WebRTC: watch /hls/{stream_id}/master.m3u8"
            )
        return await self.viewers.watch(publisher, offer, user_agent)

    def _keyframe_wanted(self, stream_id: str, slot: int) -> None:
        publisher = self.publishers.get(stream_id)
        if slot > 0:
            self.stages.request_keyframe(stream_id, slot)
        elif isinstance(publisher, Publisher):
            publisher.stage.request_keyframe()

    async def publish_guest(
        self, stream_id: str, user_id: str, invite_id: str, offer: str
    ) -> tuple[GuestSession, str]:
        """A guest onto the stage of a stream whose host publishes here over WHIP."""
        host = self.publishers.get(stream_id)
        if not isinstance(host, Publisher) or stream_id not in self._reported_streams():
            raise Conflict(f"the host of {stream_id!r} is not live over WHIP here")
        return await self.stages.publish(host, user_id, invite_id, offer)

    def verifier(self) -> LocalVerifier:
        """Checks guests' access tokens (livefold's own, signed with the local key)."""
        if self._verifier is None:
            self._verifier = LocalVerifier(self.settings)
        return self._verifier

    def _reported_streams(self) -> set[str]:
        return {p.stream_id for p in self.publishers.values() if p.session_id in self._reported}

    async def end(self, publisher: IngestSession, why: str, end_reason: str) -> None:
        """Stop a publisher once, its viewers with it, and append what ended."""
        if self.publishers.get(publisher.stream_id) is not publisher:
            return
        del self.publishers[publisher.stream_id]
        await self.viewers.leave_stream(publisher.stream_id)
        await self.stages.end_stage(publisher.stream_id)
        self.pool.end(publisher.stream_id)
        await publisher.close()
        actor = publisher.streamer if why == "ended" else "system"
        live_at = self._reported.pop(publisher.session_id, None)
        if live_at is not None:
            await self._append(
                INGEST_STOPPED,
                publisher.stream_id,
                actor,
                ingest_id=publisher.session_id,
                reason=why,
            )
        else:  # never reported; if it was resuming a stream after a crash, that stream ends
            live_at = self._resuming.pop(publisher.stream_id, None)
        if live_at is not None:
            await self._end_stream(publisher.stream_id, actor, end_reason, live_at)
        self.hls_audience.sweep(publisher.stream_id)
        await self._record(publisher)

    async def _record(self, ingest: IngestSession) -> None:
        """Finish the ingest's ladder and recording; RecordingFinished lists it as a VOD."""
        recording = await self.broadcasts.finish(ingest.stream_id, ingest.session_id)
        await self._recorded(ingest.stream_id, ingest.session_id, recording)

    async def _salvage(self, stream_id: str, ingest_id: str) -> None:
        """The recording of an ingest a crashed run left open (media/recording.py, salvage)."""
        recording = await self.broadcasts.salvage(stream_id, ingest_id)
        await self._recorded(stream_id, ingest_id, recording)

    async def _recorded(self, stream_id: str, ingest_id: str, recording: Recording | None) -> None:
        if recording is not None:
            await self._append(
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
            await self._append(ENDED, stream_id, actor, reason=reason, duration_ms=duration)

    async def _recover(self) -> None:
        """Close what a crashed run of this process left in the log (before taking requests):
        each open ingest stops (error); each live stream ends as ingest_lost unless its
        publisher comes back within the ingest timeout."""
        while not self.directory.ready:
            await asyncio.sleep(0.05)
        left = self.directory.left_by(self.instance)
        now = int(time.time() * 1000)
        for stream_id, _, entry in left:
            if entry.status == "live":
                self._resuming[stream_id] = entry.live_at or now
        self._recovered = True
        for stream_id, ingest, _ in left:
            log.warning("ingest %s of %s was left open by a crash", ingest.ingest_id, stream_id)
            if ingest.open:
                await self._append(
                    INGEST_STOPPED, stream_id, "system", ingest_id=ingest.ingest_id, reason="error"
                )
                self._spawn(self._salvage(stream_id, ingest.ingest_id))
        await asyncio.sleep(self.settings.media_ingest_timeout_seconds)
        for stream_id in list(self._resuming):
            if stream_id not in self.publishers:
                live_at = self._resuming.pop(stream_id)
                await self._end_stream(stream_id, "system", "ingest_lost", live_at)

    async def _watch(self, publisher: Publisher) -> None:
        """Report the ingest once media flows; end it when video stalls."""
        timeout = self.settings.media_ingest_timeout_seconds
        while self.publishers.get(publisher.stream_id) is publisher:
            if publisher.session_id not in self._reported and flowing(publisher):
                await self._report(publisher)
            stage = publisher.stage
            health = None if stage.meter is None else stage.meter.due()
            if health is not None:
                await self.report_health(publisher, health)
            allowed = timeout if stage.video_frames else max(timeout, CONNECT_SECONDS)
            if time.monotonic() - stage.last_frame_at > allowed:
                log.info("ingest %s of %s stalled", publisher.session_id, publisher.stream_id)
                await self.end(publisher, "disconnected", "ingest_lost")
                return
            await asyncio.sleep(0.1)

    async def _report(self, publisher: Publisher) -> None:
        report, size = ingest_report(publisher)
        await self.report(publisher, "webrtc", report)
        publisher.stage.meter = self.health_meter(report.fps)
        if self.publishers.get(publisher.stream_id) is publisher:
            whip_feed.broadcast(publisher, self.broadcasts, size)

    async def report(self, ingest: IngestSession, protocol: str, report: IngestReport) -> None:
        """The ingest's media flow, through either door: IngestStarted, and WentLive for a
        scheduled stream."""
        if self.publishers.get(ingest.stream_id) is not ingest:
            return
        self._reported[ingest.session_id] = self._resuming.pop(
            ingest.stream_id, int(time.time() * 1000)
        )
        await self._append(
            INGEST_STARTED,
            ingest.stream_id,
            ingest.streamer,
            ingest_id=ingest.session_id,
            protocol=protocol,
            **vars(report),
            media_instance=self.instance,
        )
        if self.directory.status(ingest.stream_id) == "scheduled":
            await self._append(
                WENT_LIVE, ingest.stream_id, ingest.streamer, ingest_id=ingest.session_id
            )

    def health_meter(self, nominal_fps: float) -> HealthMeter:
        every = self.settings.media_health_seconds
        return HealthMeter(nominal_fps, every, self.settings.media_health_quiet_seconds)

    async def report_health(self, ingest: IngestSession, health: IngestHealth) -> None:
        """A live ingest's latest health (`IngestHealth`), while it is the stream's publisher."""
        if self.publishers.get(ingest.stream_id) is not ingest:
            return
        if ingest.session_id not in self._reported:
            return
        await self._append(
            INGEST_HEALTH,
            ingest.stream_id,
            ingest.streamer,
            ingest_id=ingest.session_id,
            **vars(health),
        )

    async def _append(self, event_type: str, stream_id: str, actor: str, **body: Any) -> None:
        assert self.producer is not None
        event = new_event(event_type, stream_id=stream_id, actor_id=actor, **body)
        try:
            await self.producer.append_async(event)
        except Exception:
            log.exception("could not append %s for %s", event_type, stream_id)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.presence.tick_seconds)
            self.presence.beat()

    def _observed(self, event: Event) -> None:
        """Presence is observed, not acknowledged to anyone: appended without waiting."""
        if self.producer is None:
            return
        try:
            self.producer.append(event).add_done_callback(_log_failure)
        except Exception:
            log.exception("presence event not appended")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _log_failure(future: Future[Any]) -> None:
    if future.exception() is not None:
        log.warning("presence event not appended: %s", future.exception())
