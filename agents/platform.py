"""Each worker's own copy of the platform-wide moderation state (key `PLATFORM`).

Platform admins come from the accounts topic's role events (keyed by user, so on every
partition) and platform defaults from moderation events of the stream `platform` (on one
partition); every stream's moderation reads the result. So it cannot live on one partition like
a stream's state: each worker folds it by itself, following those records from offset zero
(`streams.consumer.TopicFollower`: no group, nothing committed). The copy that `current`
returns is replaced whole after each batch, never changed in place, so the fold worker reads a
consistent state while this thread folds.

Errors, as the fold driver's (docs/reliability.md): Kafka or the registry unreachable is
waited out (the follower starts again, decoding is tried again, with back-off); an event the
fold raises on leaves the state as it was and goes to the dead-letter topic with the error (the
fold drivers skip PLATFORM keys, so nobody else would), and folding goes on. A record that does
not decode is the workers' to dead-letter (they read these topics too) and is stepped over.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from confluent_kafka import KafkaException, Message

from agents.driver import partition_of
from livefold.folding import Output, dumps, loads
from livefold.moderation import fold as moderation
from livefold.moderation.state import PLATFORM, ModerationState, new_state
from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, event_topic
from streams.codec import Codec, DecodeError
from streams.consumer import (
    Positions,
    TopicFollower,
    deadletter_headers,
    position_of,
    read_up_to,
)
from streams.events import Event
from streams.producer import EventProducer

log = logging.getLogger(__name__)

ACCOUNTS = event_topic("accounts")
MODERATION = event_topic("moderation")
MAX_BACKOFF = 30.0
PlatformFold = Callable[[ModerationState | None, Event], tuple[ModerationState, list[Output]]]


def platform_partitions(topic: str, partitions: list[int]) -> list[int]:
    """Every accounts partition; of the moderation topic, the platform stream's only."""
    if topic == MODERATION:
        return [partition_of(PLATFORM, len(partitions))]
    return partitions


class PlatformModeration:
    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        deadletter: EventProducer,
        fold: PlatformFold = moderation.fold,
    ):
        """`fold`: the moderation fold (tests give one with a bug)."""
        self.settings = settings
        self.codec = codec
        self.deadletter = deadletter
        self.fold = fold
        self.current: ModerationState = new_state(PLATFORM)
        self.caught_up = threading.Event()
        # Outputs folded after catching up, for the worker that publishes them.
        self.outputs: queue.SimpleQueue[Output] = queue.SimpleQueue()
        self.dead_letters = 0  # events the fold raised on (logged, and in the dead-letter topic)
        self._state = new_state(PLATFORM)
        self._stopping = threading.Event()
        self._follower: TopicFollower | None = None
        self._starter = threading.Thread(
            target=self._start, name="platform-moderation", daemon=True
        )

    @property
    def failure(self) -> BaseException | None:
        """Why the follower stopped (a fatal Kafka error), None while it works."""
        return None if self._follower is None else self._follower.failure

    def start(self) -> None:
        self._starter.start()

    def stop(self) -> None:
        self._stopping.set()
        self._starter.join(10)
        if self._follower is not None:
            self._follower.stop()

    def _start(self) -> None:
        """Start following, waiting out a Kafka that does not answer yet."""
        delay = 1.0
        while not self._stopping.is_set():
            follower = TopicFollower(
                self.settings.kafka_config(),
                [ACCOUNTS, MODERATION],
                self._deliver,
                "livefold-platform-moderation",
                pick=platform_partitions,
            )
            self._follower = follower
            try:
                follower.start(timeout=30.0)
            except KafkaException as error:
                follower.stop()
                log.warning("platform moderation: %s; starting again in %.0f s", error, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            return

    def _deliver(self, messages: list[Message], reached: Positions) -> None:
        changed = False
        for message in messages:
            changed = self._fold(message) or changed
        if changed:
            self.current = loads(dumps(self._state))
        ends = None if self._follower is None else self._follower.start_ends
        if not self.caught_up.is_set() and ends is not None and read_up_to(reached, ends):
            self.caught_up.set()

    def _fold(self, message: Message) -> bool:
        """Fold one record, all or nothing; True if the state changed."""
        if message.topic() == MODERATION and message.key() != PLATFORM.encode():
            return False
        event = self._decode(message.value() or b"")
        if event is None or event.type not in moderation.HANDLES:
            return False
        if moderation.key_of(event) != PLATFORM:
            return False
        before = dumps(self._state)
        try:
            self._state, outputs = self.fold(self._state, event)
        except Exception as error:  # a bug: the event changes nothing and is set aside
            self._state = loads(before)
            self.dead_letters += 1
            log.exception("platform moderation: the fold raised on %s", event.event_id)
            headers = deadletter_headers(
                f"platform moderation fold raised: {error!r}", *position_of(message)
            )
            self.deadletter.append_raw(
                DEADLETTER_TOPIC, message.key(), message.value() or b"", event.event_id, headers
            ).result(30)
            return False
        if self.caught_up.is_set():
            for output in outputs:
                self.outputs.put(output)
        return True

    def _decode(self, value: bytes) -> Event | None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return self.codec.decode(value)
            except DecodeError as error:
                if not error.retriable:
                    return None  # the fold workers dead-letter it
                log.warning("platform moderation: %s; decoding again in %.1f s", error, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        return None
