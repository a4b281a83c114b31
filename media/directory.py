"""The media service's view of the log: stream keys, stream lifecycles and ingests
(livefold/stream_keys.py), folded from `livefold.media.v1` and `livefold.stream.v1`, read from
the start and then followed (streams/consumer.py's TopicFollower).

A publisher is admitted or refused once everything appended before the request has been read:
a key rotated a moment ago, or a stream just created, must not be refused because this process
lags, and a key rotated away must not still work.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Message

from livefold.guests import Guest
from livefold.settings import Settings
from livefold.stream_keys import HANDLES, Directory, Ingest, StreamEntry
from streams.catalog import event_topic
from streams.codec import Codec, DecodeError
from streams.consumer import Positions, TopicFollower, read_up_to

log = logging.getLogger(__name__)
TOPICS = (event_topic("media"), event_topic("stream"), event_topic("costream"))
CATCH_UP_SECONDS = 5.0
Decided = TypeVar("Decided")


class Behind(RuntimeError):
    """The log could not be read up to its end in time: nothing can be decided yet."""


class LogDirectory:
    def __init__(self, settings: Settings, codec: Codec):
        self._codec = codec
        self._directory = Directory()
        self._lock = threading.Lock()
        self._reached: Positions = {}
        self._follower = TopicFollower(
            settings.kafka_config(), TOPICS, self._deliver, "livefold-media-directory"
        )
        self._start_ends: Positions = {}

    def start(self, timeout: float = 60.0) -> None:
        self._start_ends = self._follower.start(timeout)

    def stop(self) -> None:
        self._follower.stop()

    @property
    def ready(self) -> bool:
        return self._read_up_to(self._start_ends)

    @property
    def failure(self) -> BaseException | None:
        """Why the directory stopped following the log (None while it follows)."""
        return self._follower.failure

    async def admit(self, stream_id: str, presented: str | None) -> StreamEntry:
        """The stream `presented` may publish to, or the refusal (livefold.stream_keys)."""
        return await self._decide(lambda directory: directory.admit(stream_id, presented))

    async def admit_key(self, presented: str) -> tuple[str, StreamEntry]:
        """The stream a key alone publishes to (RTMP), or the refusal (livefold.stream_keys)."""
        return await self._decide(lambda directory: directory.admit_key(presented))

    async def _decide(self, decision: Callable[[Directory], Decided]) -> Decided:
        """Decide as of everything appended before the request: a key rotated away a moment
        ago must not work, nor a new one fail (publishing is rare; reading the topics' ends
        costs milliseconds)."""
        if not await asyncio.to_thread(self._catch_up):
            raise Behind(f"the media service could not read the log within {CATCH_UP_SECONDS}s")
        with self._lock:
            return decision(self._directory)

    def status(self, stream_id: str) -> str | None:
        with self._lock:
            entry = self._directory.streams.get(stream_id)
            return None if entry is None else entry.status

    async def admit_guest(self, stream_id: str, user_id: str) -> tuple[StreamEntry, Guest]:
        """The stage a guest may publish onto, or the refusal (livefold.stream_keys)."""
        return await self._decide(lambda directory: directory.admit_guest(stream_id, user_id))

    def guest(self, stream_id: str, user_id: str) -> tuple[Guest | None, bool]:
        """The user's latest invitation to the stream, and whether the host muted them."""
        with self._lock:
            invitation = self._directory.guest(stream_id, user_id)
            return invitation, bool(invitation and invitation.get("muted", False))

    def left_by(self, instance: str) -> list[tuple[str, Ingest, StreamEntry]]:
        with self._lock:
            return self._directory.left_by(instance)

    def live_recordings(self) -> list[tuple[str, str]]:
        """(stream id, ingest id) of each live stream whose latest ingest is still open: the
        recordings being written now."""
        with self._lock:
            ingests = list(self._directory.ingests.items())
            return [
                (stream_id, ingest.ingest_id)
                for stream_id, ingest in ingests
                if ingest.open
                and self._directory.streams.get(stream_id) is not None
                and self._directory.streams[stream_id].status == "live"
            ]

    def _catch_up(self) -> bool:
        """Wait until what the topics hold now has been read; False if it took too long."""
        ends = self._follower.end_offsets()
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while not self._read_up_to(ends):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _read_up_to(self, ends: Positions) -> bool:
        with self._lock:
            return read_up_to(self._reached, ends)

    def _deliver(self, messages: list[Message], reached: Positions) -> None:
        events = []
        for message in messages:
            try:
                event = self._codec.decode(message.value() or b"")
            except DecodeError as undecodable:
                log.warning("skipped an undecodable record: %s", undecodable)
                continue
            if event.type in HANDLES:
                events.append(event)
        with self._lock:
            for event in events:
                self._directory.fold(event)
            self._reached.update(reached)
