"""The media process's long-lived parts: the log directory (stream keys, stream lifecycles),
what the log hears of ingests (media/ingest_log.py: lifecycle events, recovery after a crash),
and every publisher session through either door (its viewers: media/viewers.py; co-streaming
guests: media/costream.py; HLS ladders and recordings: media/broadcast.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Coroutine
from typing import Any

from livefold.access.local import LocalVerifier
from livefold.settings import Settings
from livefold.stream_keys import StreamEntry
from media import whip_feed
from media.background import BackgroundWorker
from media.broadcast import Broadcasts
from media.clips import ClipCutter
from media.costream import GuestSession, Stages
from media.directory import LogDirectory
from media.hls import HlsAudience
from media.ingest_health import HealthMeter, IngestHealth
from media.ingest_log import IngestLog, IngestSession
from media.peers import Publisher, add_candidates, on_closed
from media.pool import Busy
from media.rtmp_ingest import IngestReport
from media.thumbnails import Thumbnailer
from media.viewers import WhepViewers
from media.whip_report import flowing, ingest_report
from streams.codec import Codec
from streams.presence import PresenceLog

log = logging.getLogger(__name__)
CONNECT_SECONDS = 30.0  # from the offer to the first frame: ICE and DTLS under load


class Conflict(RuntimeError):
    pass


class MediaRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.codec = Codec.from_settings(settings)
        self.directory = LogDirectory(settings, self.codec)
        self.ingest_log = IngestLog(settings, self.codec, self.directory)
        self.publishers: dict[str, IngestSession] = {}  # stream id -> its publisher, either door
        # Each WHEP session is a viewer, counted by the audience fold like a gateway's sockets.
        self.presence = PresenceLog(
            self.ingest_log.observed, settings.gateway_presence_heartbeat_seconds
        )
        self.viewers = WhepViewers(
            settings.media_fanout_processes,
            settings.media_max_viewers,
            self._keyframe_wanted,
            self.presence,
        )
        self.pool = self.viewers.pool
        self.stages = Stages(
            self.directory,
            self.pool,
            self.ingest_log.append,
            settings.media_ingest_timeout_seconds,
        )
        self._verifier: LocalVerifier | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.broadcasts = Broadcasts(settings)  # the HLS ladders and their recordings
        self.hls_audience = HlsAudience(self.presence)
        self.background: list[BackgroundWorker] = []  # threads: clips and thumbnails

    async def start(self) -> None:
        await asyncio.to_thread(self.codec.register_all)
        producer = self.ingest_log.open()
        await asyncio.to_thread(self.directory.start)
        await self.pool.start()
        self._spawn(self._beat())
        self._spawn(self.ingest_log.recover(self.publishers, self._salvage))
        self._spawn(self.hls_audience.sweep_forever())
        self.background = [
            ClipCutter(self.settings, self.codec, producer),
            Thumbnailer(self.settings, self.directory, producer),
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
        await asyncio.to_thread(self.ingest_log.close)

    @property
    def ready(self) -> bool:
        ingest_log = self.ingest_log
        return ingest_log.producer is not None and ingest_log.recovered and self.directory.ready

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
        if not isinstance(host, Publisher) or not self.ingest_log.reported(host):
            raise Conflict(f"the host of {stream_id!r} is not live over WHIP here")
        return await self.stages.publish(host, user_id, invite_id, offer)

    def verifier(self) -> LocalVerifier:
        """Checks guests' access tokens (livefold's own, signed with the local key)."""
        if self._verifier is None:
            self._verifier = LocalVerifier(self.settings)
        return self._verifier

    async def end(self, publisher: IngestSession, why: str, end_reason: str) -> None:
        """Stop a publisher once, its viewers with it, and append what ended."""
        if self.publishers.get(publisher.stream_id) is not publisher:
            return
        del self.publishers[publisher.stream_id]
        await self.viewers.leave_stream(publisher.stream_id)
        await self.stages.end_stage(publisher.stream_id)
        self.pool.end(publisher.stream_id)
        await publisher.close()
        await self.ingest_log.stopped(publisher, why, end_reason)
        self.hls_audience.sweep(publisher.stream_id)
        await self._record(publisher)

    async def _record(self, ingest: IngestSession) -> None:
        """Finish the ingest's ladder and recording; RecordingFinished lists it as a VOD."""
        recording = await self.broadcasts.finish(ingest.stream_id, ingest.session_id)
        await self.ingest_log.recorded(ingest.stream_id, ingest.session_id, recording)

    def _salvage(self, stream_id: str, ingest_id: str) -> None:
        """The recording of an ingest a crashed run left open (media/recording.py, salvage)."""

        async def salvaged() -> None:
            recording = await self.broadcasts.salvage(stream_id, ingest_id)
            await self.ingest_log.recorded(stream_id, ingest_id, recording)

        self._spawn(salvaged())

    async def _watch(self, publisher: Publisher) -> None:
        """Report the ingest once media flows; end it when video stalls."""
        timeout = self.settings.media_ingest_timeout_seconds
        while self.publishers.get(publisher.stream_id) is publisher:
            if not self.ingest_log.reported(publisher) and flowing(publisher):
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
        if self.publishers.get(ingest.stream_id) is ingest:
            await self.ingest_log.started(ingest, protocol, report)

    def health_meter(self, nominal_fps: float) -> HealthMeter:
        every = self.settings.media_health_seconds
        return HealthMeter(nominal_fps, every, self.settings.media_health_quiet_seconds)

    async def report_health(self, ingest: IngestSession, health: IngestHealth) -> None:
        """A live ingest's latest health (`IngestHealth`), while it is the stream's publisher."""
        if self.publishers.get(ingest.stream_id) is ingest:
            await self.ingest_log.health(ingest, health)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.presence.tick_seconds)
            self.presence.beat()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
