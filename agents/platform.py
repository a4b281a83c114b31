"""Each worker's own copy of the platform-wide moderation state (key `PLATFORM`).

Platform admins come from the accounts topic's role events (keyed by user, so on every
partition) and platform defaults from moderation events of the stream `platform` (on one
partition); every stream's moderation reads the result. So it cannot live on one partition like
a stream's state: each worker folds it by itself, with a consumer of its own (no group, nothing
committed) that reads those records from offset zero and keeps following them. The copy that
`current` returns is replaced whole after each poll, never changed in place, so the fold worker
reads a consistent state while this thread folds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from agents.driver import partition_of
from livefold.folding import Output, dumps, loads
from livefold.moderation import fold as moderation
from livefold.moderation.state import PLATFORM, ModerationState, new_state
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec, DecodeError
from streams.consumer import consumer_config

log = logging.getLogger(__name__)

ACCOUNTS = event_topic("accounts")
MODERATION = event_topic("moderation")


def watermarks(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> tuple[int, int]:
    """A partition's low and high offsets, waiting out a leader election (fresh topics)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            return int(low), int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class PlatformModeration:
    def __init__(self, settings: Settings, codec: Codec, group: str):
        self.settings = settings
        self.codec = codec
        self.group = group
        self.current: ModerationState = new_state(PLATFORM)
        self.caught_up = threading.Event()
        # Outputs folded after catching up, for the worker that publishes them.
        self.outputs: queue.SimpleQueue[Output] = queue.SimpleQueue()
        self.failure: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="platform-moderation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            consumer = Consumer(consumer_config(self.settings, self.group))
            try:
                self._follow(consumer)
            finally:
                consumer.close()
        except BaseException as error:  # reported by the worker's readiness and health checks
            log.exception("platform moderation reader failed")
            self.failure = error

    def _follow(self, consumer: Consumer) -> None:
        metadata = consumer.list_topics(timeout=30)
        moderation_partition = partition_of(PLATFORM, len(metadata.topics[MODERATION].partitions))
        assigned = [TopicPartition(ACCOUNTS, p) for p in metadata.topics[ACCOUNTS].partitions]
        assigned.append(TopicPartition(MODERATION, moderation_partition))
        unread: dict[tuple[str, int], int] = {}
        for tp in assigned:
            low, high = watermarks(consumer, tp)
            if high > low:
                unread[(tp.topic, tp.partition)] = high
            tp.offset = OFFSET_BEGINNING
        consumer.assign(assigned)
        state = new_state(PLATFORM)
        while not self._stopping.is_set():
            changed = False
            for message in consumer.consume(500, 0.2):
                if message.error() is not None:
                    continue
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                end = unread.get((topic or "", partition or 0))
                if end is not None and (offset or 0) >= end - 1:
                    del unread[(topic or "", partition or 0)]
                if topic == MODERATION and message.key() != PLATFORM.encode():
                    continue
                event = self._decode(message.value() or b"")
                if event is None or moderation.key_of(event) != PLATFORM:
                    continue
                if event.type not in moderation.HANDLES:
                    continue
                state, outputs = moderation.fold(state, event)
                changed = True
                if self.caught_up.is_set():
                    for output in outputs:
                        self.outputs.put(output)
            if changed:
                self.current = loads(dumps(state))
            if not unread and not self.caught_up.is_set():
                self.caught_up.set()

    def _decode(self, value: bytes) -> Any:
        while not self._stopping.is_set():
            try:
                return self.codec.decode(value)
            except DecodeError as error:
                if not error.retriable:
                    return None  # the fold workers dead-letter it
                log.warning("platform moderation: %s; retrying", error)
                time.sleep(1.0)
        return None
