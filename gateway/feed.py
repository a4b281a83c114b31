"""The state feed of a gateway process: it reads every state topic from its start (the topics
are compacted, so that is the current state plus recent notices) and then follows them
(`streams.consumer.TopicFollower`), handing batches of records to the event loop.

Other topics may be read too, each through a function that turns a record into a state
message (`sources`). It joins no consumer group and commits nothing: each gateway reads
everything for itself. A thread, because confluent-kafka blocks; records reach the loop with
`call_soon_threadsafe`, so the store and the hub are only ever touched from the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Message

from gateway import metrics
from livefold.settings import Settings
from streams.catalog import STATE_TOPICS, state_topic
from streams.consumer import Positions, TopicFollower, position_of, read_up_to
from streams.state import StateMessage, from_record

log = logging.getLogger("livefold.gateway.feed")


@dataclass(frozen=True, slots=True)
class FeedRecord:
    partition: int
    offset: int
    message: StateMessage
    written_ms: int = 0  # the record's Kafka timestamp (0: loaded at start, not timed)


Deliver = Callable[[list[FeedRecord], bool], None]  # (records, caught up with the start's end)
Reader = Callable[[bytes], StateMessage | None]  # a record's value as a state message (or none)


def state_sources() -> dict[str, Reader]:
    return {state_topic(name): from_record for name in STATE_TOPICS}


STATE_TOPIC_NAMES = frozenset(state_topic(name) for name in STATE_TOPICS)
Raw = tuple[str, int, int, bytes | None]  # topic, partition, offset, value


class Compactor:
    """What compaction would leave of state records: the last update (or rejection) per key,
    and the last `notices_kept` notices per key (notice keys end in "#notice")."""

    def __init__(self, notices_kept: int):
        self.latest: dict[tuple[str, bytes], Raw] = {}
        self.notices: dict[tuple[str, bytes], deque[Raw]] = {}
        self.notices_kept = notices_kept

    def add(self, topic: str, partition: int, offset: int, key: bytes, value: bytes | None) -> None:
        if key.endswith(b"#notice"):
            kept = self.notices.get((topic, key))
            if kept is None:
                kept = self.notices[(topic, key)] = deque(maxlen=self.notices_kept)
            kept.append((topic, partition, offset, value))
        else:
            self.latest[(topic, key)] = (topic, partition, offset, value)

    def records(
        self, decode: Callable[[str, int, int, bytes | None], FeedRecord | None]
    ) -> list[FeedRecord]:
        survivors = [
            *self.latest.values(),
            *(raw for kept in self.notices.values() for raw in kept),
        ]
        survivors.sort(key=lambda raw: raw[:3])
        decoded = (decode(*raw) for raw in survivors)
        return [record for record in decoded if record is not None]


class StateFeed:
    def __init__(
        self,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        deliver: Deliver,
        sources: dict[str, Reader] | None = None,
    ):
        self.settings = settings
        self.sources = sources or state_sources()
        self.loop = loop
        self.deliver = deliver
        self.caught_up = asyncio.Event()
        self.failure: str | None = None  # why the feed stopped, if it did on its own
        self._stopping = threading.Event()
        # Until caught up, state records are compacted before they are decoded: a topic
        # compaction has not reached yet holds many superseded updates per key.
        self._loading: Compactor | None = Compactor(settings.gateway_ws_resume_limit)
        self._follower = TopicFollower(
            settings.kafka_config(), list(self.sources), self._on_batch, "livefold-gateway-feed"
        )
        self._starter = threading.Thread(target=self._start, name="state-feed", daemon=True)

    def start(self) -> None:
        self._starter.start()

    def stop(self) -> None:
        self._stopping.set()
        self._starter.join(timeout=10)
        self._follower.stop()

    @property
    def alive(self) -> bool:
        """False once the feed ended without being asked to: fan-out has stopped."""
        if self._stopping.is_set():
            return True
        if self._follower.failure is not None:
            self.failure = self.failure or repr(self._follower.failure)
        return self.failure is None

    def _start(self) -> None:
        try:
            self._follower.start(timeout=30.0)
        except Exception as error:  # reported by /health/live, which a supervisor acts on
            self.failure = repr(error)
            log.exception("the state feed did not start")

    def _on_batch(self, messages: list[Message], reached: Positions) -> None:
        """On the follower's thread: decode (or, while loading, compact) and hand over."""
        records: list[FeedRecord] = []
        loading = self._loading
        for message in messages:
            topic, partition, offset = position_of(message)
            value = message.value()
            if loading is not None and topic in STATE_TOPIC_NAMES:
                loading.add(topic, partition, offset, message.key() or b"", value)
            elif (
                record := self._decode(topic, partition, offset, value, message.timestamp()[1])
            ) is not None:
                records.append(record)
        if records:
            self._hand_over(records, loading is None)
        ends = self._follower.start_ends
        if loading is not None and ends is not None and read_up_to(reached, ends):
            self._loading = None
            self._hand_over(loading.records(self._decode), True)

    def _decode(
        self, topic: str, partition: int, offset: int, value: bytes | None, written_ms: int = 0
    ) -> FeedRecord | None:
        if value is None:
            return None  # a tombstone: nothing to show
        try:
            message = self.sources[topic](value)
        except ValueError as error:
            metrics.poison_records.labels("state").inc()
            log.warning("feed: skipped %s/%s offset %s: %s", topic, partition, offset, error)
            return None
        return None if message is None else FeedRecord(partition, offset, message, written_ms)

    def _hand_over(self, records: list[FeedRecord], caught_up: bool) -> None:
        def deliver() -> None:
            self.deliver(records, caught_up)
            if caught_up:
                self.caught_up.set()

        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(deliver)
