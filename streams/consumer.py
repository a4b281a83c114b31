"""Reading events back. Records that cannot be decoded go to the dead-letter topic with the
reason in their headers, and reading goes on. `TopicFollower` is the one way to read topics
from offset zero and then keep following them."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import fastavro
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC
from streams.codec import Codec, DecodeError
from streams.events import Event
from streams.producer import EventProducer

log = logging.getLogger(__name__)

PARTITION_EOF = KafkaError._PARTITION_EOF
BATCH = 2000  # records taken at most per wake-up of a follower
Positions = dict[tuple[str, int], int]  # (topic, partition) -> the next offset to read


@dataclass(frozen=True)
class Record:
    event: Event
    topic: str
    partition: int
    offset: int


def position_of(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (all set on what a consumer returns)."""
    return message.topic() or "", message.partition() or 0, message.offset() or 0


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        **settings.kafka_config(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        **overrides,
    }


class EventReader:
    """Decodes what a confluent-kafka Consumer returns; dead-letters what it cannot decode.

    While the registry cannot be asked (a retriable `DecodeError`), a reader given `wait` calls
    `wait(seconds)` and decodes the same record again (until `wait` returns True: stop, and the
    error is raised); without `wait` it raises at once, so a command fails fast."""

    def __init__(
        self,
        consumer: Consumer,
        codec: Codec,
        deadletter: EventProducer,
        wait: Callable[[float], bool] | None = None,
    ):
        self.consumer = consumer
        self.codec = codec
        self.deadletter = deadletter
        self.wait = wait

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        records: list[Record] = []
        for message in self.consumer.consume(max_records, timeout):
            record = self.decode(message)
            if record is not None:
                records.append(record)
        return records

    def commit(self) -> None:
        self.consumer.commit(asynchronous=False)

    def close(self) -> None:
        self.consumer.close()

    def decode(self, message: Message) -> Record | None:
        error = message.error()
        if error is not None:
            if error.retriable() or error.code() < 0:
                return None  # end-of-partition and transient notices are not data
            raise RuntimeError(f"kafka consumer error: {error.str()}")
        topic, partition, offset = position_of(message)
        delay = 0.1
        while True:
            try:
                event = self.codec.decode(message.value() or b"")
            except DecodeError as undecodable:
                if not undecodable.retriable:
                    self.dead_letter(message, str(undecodable))
                    return None
                # The registry is unreachable: the record may be fine, so wait or stop, not skip.
                if self.wait is None or self.wait(delay):
                    raise
                log.warning(
                    "%s; decoding %s[%d]@%d again in %.1f s",
                    undecodable,
                    topic,
                    partition,
                    offset,
                    delay,
                )
                delay = min(delay * 2, 5.0)
                continue
            return Record(event, topic, partition, offset)

    def dead_letter(self, message: Message, reason: str) -> None:
        """Append the record to the dead-letter topic (`undecodable_record`), with why and
        where from."""
        position = position_of(message)
        value = undecodable_record(self.codec, message.value(), reason, *position)
        headers = deadletter_headers(reason, *position)
        self.deadletter.append_raw(
            DEADLETTER_TOPIC, message.key(), value, headers=list(headers)
        ).result(30)


UNDECODABLE = "livefold.deadletter.UndecodableRecord"
UNDECODABLE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "UndecodableRecord",
    "namespace": "livefold.deadletter",
    "doc": "A record livefold could not decode as an event, kept as it was with why.",
    "fields": [
        {"name": "value", "type": ["null", "bytes"], "doc": "The record's value, untouched."},
        {"name": "reason", "type": "string", "doc": "Why it could not be decoded."},
        {"name": "topic", "type": "string", "doc": "Where it was read."},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
    ],
}
_UNDECODABLE = fastavro.parse_schema(UNDECODABLE_SCHEMA)


def undecodable_record(
    codec: Codec, value: bytes | None, reason: str, topic: str, partition: int, offset: int
) -> bytes:
    """What the dead-letter topic holds for a record that is not a livefold event: a
    `livefold.deadletter.UndecodableRecord` in Confluent's wire format (the original bytes in
    `value`), so that any Confluent consumer reads every record of the topic. (An event a fold
    failed on goes there as the event it is.)"""
    schema_id = codec.register(f"{DEADLETTER_TOPIC}-{UNDECODABLE}", json.dumps(UNDECODABLE_SCHEMA))
    out = io.BytesIO()
    out.write(b"\x00" + schema_id.to_bytes(4, "big"))
    body = {"value": value, "reason": reason, "topic": topic, "partition": partition}
    fastavro.schemaless_writer(out, _UNDECODABLE, {**body, "offset": offset})
    return out.getvalue()


def original_of(dead_letter: bytes) -> bytes | None:
    """The original value of an `undecodable_record`."""
    record: Any = fastavro.schemaless_reader(io.BytesIO(dead_letter[5:]), _UNDECODABLE, None)
    value: bytes | None = record["value"]
    return value


def deadletter_headers(
    reason: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """Why a record was dead-lettered and where it came from (the Faust workers use it too)."""
    return [
        ("livefold.reason", reason.encode()),
        ("livefold.source.topic", topic.encode()),
        ("livefold.source.partition", str(partition).encode()),
        ("livefold.source.offset", str(offset).encode()),
    ]


def read_to_end(
    settings: Settings, codec: Codec, topics: list[str], deadletter: EventProducer
) -> Iterator[Record]:
    """Every event now on the topics, from offset zero to each partition's end as it was when
    reading began, without joining a consumer group (nothing is committed)."""
    follower = TopicFollower(settings.kafka_config(), topics, None, "livefold-reader")
    reader = EventReader(follower.consumer, codec, deadletter)
    for message in follower.read_to_end():
        record = reader.decode(message)
        if record is not None:
            yield record


class TopicFollower:
    """Reads every partition of `topics` from offset zero and then follows them, on a thread of
    its own, without joining a consumer group (nothing is committed: every follower reads
    everything for itself). Each batch goes to `deliver` together with the positions reached
    after it; a caller compares those with `end_offsets()` to know it has read what a topic held
    at some moment (at start-up, or before answering "not found")."""

    def __init__(
        self,
        connection: Mapping[str, Any],
        topics: Sequence[str],
        deliver: Callable[[list[Message], Positions], None] | None,
        name: str,
        pick: Callable[[str, list[int]], list[int]] | None = None,
    ):
        """`deliver`: None for a follower used only to `read_to_end`. `pick(topic,
        partitions)`: the partitions of a topic to read (default: all)."""
        config = {
            **connection,  # Settings.kafka_config(): the brokers and how to log in
            "group.id": f"{name}-{uuid.uuid4().hex}",  # never joined: partitions are assigned
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 50,
            "socket.nagle.disable": True,
        }
        self.topics, self.deliver, self.name, self.pick = list(topics), deliver, name, pick
        self._consumer = Consumer(config)
        self.consumer = self._consumer  # for an EventReader that decodes what it reads
        # Watermark queries come from other threads, and a consumer blocks them while its own
        # thread sits in consume(): they get a handle of their own.
        self._probe = Consumer(config)
        self._probe_lock = threading.Lock()
        self._partitions: list[TopicPartition] = []
        # Where each partition is known read to without a record consumed from it: its start
        # offset, or its end once met. A consumer's position stays unset until it consumes a
        # record, so a partition with nothing left to read would never count as read.
        self._floor: Positions = {}
        # The ends `start` read, set before the first delivery: a batch's positions reach them
        # once what the topics held at start-up has been read.
        self.start_ends: Positions | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=name, daemon=True)
        self.failure: BaseException | None = None

    def start(self, timeout: float, since_ms: int | None = None) -> Positions:
        """Assign every partition from the start (or from its first record written at or after
        `since_ms`, epoch milliseconds) and begin following; returns the end offsets the topics
        had, which the delivered positions reach once all of it has been read."""
        ends = self.start_ends = self._assign(timeout, since_ms)
        self._thread.start()
        return ends

    def read_to_end(self, timeout: float = 60.0) -> Iterator[Message]:
        """Every record from the start to each partition's end as it was when reading began."""
        return self.read(timeout, to_end=True)

    def read(
        self, timeout: float = 60.0, since_ms: int | None = None, to_end: bool = False
    ) -> Iterator[Message]:
        """Instead of following on a thread of its own: the records from the start (or from
        `since_ms`, as `start`) on, read on the calling thread, to each partition's end as it
        was when reading began (`to_end`) or on and on; the follower stops when the caller
        does."""
        try:
            ends = self._assign(timeout, since_ms)
            unread = {at for at, end in ends.items() if end > 0}
            while unread or not to_end:
                records, reached, ended = self._next_batch(1.0)
                for message in records:
                    topic, partition, offset = position_of(message)
                    if not to_end or offset < ends[(topic, partition)]:
                        yield message
                # At the end: compaction may have removed a partition's last offsets.
                unread -= ended | {at for at in unread if reached.get(at, 0) >= ends[at]}
        finally:
            self.stop()

    def _assign(self, timeout: float, since_ms: int | None) -> Positions:
        metadata = retried(lambda: self._probe.list_topics(timeout=10), timeout)
        self._partitions = []
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise KafkaException(f"topic {topic} does not exist")
            partitions = sorted(found.partitions)
            if self.pick is not None:
                partitions = self.pick(topic, partitions)
            self._partitions += [TopicPartition(topic, p) for p in partitions]
        ends = self.end_offsets(timeout)
        if since_ms is None:
            starts = {position: OFFSET_BEGINNING for position in ends}
        else:
            starts = self._offsets_at(since_ms, self._partitions, timeout)
        self._consumer.assign([TopicPartition(t, p, starts[(t, p)]) for t, p in ends])
        self._floor = {at: offset for at, offset in starts.items() if offset >= 0}
        return ends

    def end_offsets(self, timeout: float = 10.0, topic: str | None = None) -> Positions:
        """Each partition's current end (of `topic`'s partitions only, if given): what has been
        appended so far, asked of the brokers in one request per broker."""
        partitions = [tp for tp in self._partitions if topic is None or tp.topic == topic]
        return self._offsets_at(OFFSET_END, partitions, timeout)

    def _offsets_at(
        self, timestamp_ms: int, partitions: list[TopicPartition], timeout: float
    ) -> Positions:
        """The first offset of each partition written at or after `timestamp_ms`; its end where
        there is none, and for OFFSET_END (Kafka's "latest" in the same request)."""
        asked = [TopicPartition(tp.topic, tp.partition, timestamp_ms) for tp in partitions]
        with self._probe_lock:
            found = retried(partial(self._probe.offsets_for_times, asked, 10), timeout)
        offsets: Positions = {}
        for tp in found:
            if tp.error is not None:
                raise KafkaException(tp.error)
            offsets[(tp.topic, tp.partition)] = int(tp.offset)
        if timestamp_ms != OFFSET_END and any(offset < 0 for offset in offsets.values()):
            ends = self._offsets_at(OFFSET_END, partitions, timeout)
            offsets = {at: ends[at] if offset < 0 else offset for at, offset in offsets.items()}
        return offsets

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._consumer.close()
        with self._probe_lock:
            self._probe.close()

    def _follow(self) -> None:
        last: Positions | None = None  # the first batch is delivered even if empty
        try:
            while not self._stopping.is_set():
                records, reached, _ = self._next_batch(0.2)
                if (records or reached != last) and self.deliver is not None:
                    self.deliver(records, reached)
                    last = reached
        except BaseException as error:
            self.failure = error
            log.exception("%s stopped following %s", self.name, self.topics)
            raise

    def _next_batch(self, wait: float) -> tuple[list[Message], Positions, set[tuple[str, int]]]:
        """The records there now (waiting up to `wait` for the first: `consume` alone would
        wait its whole timeout for a full batch), the positions reached after them, and the
        partitions whose end was met."""
        first = self._consumer.poll(wait)
        messages = [] if first is None else [first, *self._consumer.consume(BATCH, 0)]
        records = []
        ended: set[tuple[str, int]] = set()
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.code() == PARTITION_EOF:
                at = (message.topic() or "", message.partition() or 0)
                ended.add(at)
                self._floor[at] = max(self._floor.get(at, 0), message.offset() or 0)
            elif not error.retriable() and error.code() >= 0:
                raise KafkaException(error)
        # Positions, not the last offsets seen: they also step over transaction markers.
        reached = dict(self._floor)
        for tp in self._consumer.position(self._partitions):
            at = (tp.topic, tp.partition)
            reached[at] = max(tp.offset, reached.get(at, 0))
        return records, reached, ended


def read_up_to(reached: Positions, ends: Positions) -> bool:
    """Whether the positions reached are at or past each partition's end in `ends`."""
    return all(reached.get(at, 0) >= end for at, end in ends.items())


T = TypeVar("T")


def retried(call: Callable[[], T], timeout: float) -> T:
    """Kafka calls that fail for a moment after a broker starts or a topic is created (no
    leader yet) are tried again until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
