"""Reading events back. Records that cannot be decoded go to the dead-letter topic with the
reason in their headers, and reading goes on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC
from streams.codec import Codec, DecodeError
from streams.events import Event
from streams.producer import EventProducer

PARTITION_EOF = KafkaError._PARTITION_EOF


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
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        **overrides,
    }


class EventReader:
    """Decodes what a confluent-kafka Consumer returns; dead-letters what it cannot decode."""

    def __init__(self, consumer: Consumer, codec: Codec, deadletter: EventProducer):
        self.consumer = consumer
        self.codec = codec
        self.deadletter = deadletter

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
        try:
            event = self.codec.decode(message.value() or b"")
        except DecodeError as undecodable:
            if undecodable.retriable:
                raise  # the registry is unreachable: the record may be fine, so stop, not skip
            self._send_to_deadletter(message, str(undecodable))
            return None
        return Record(event, topic, partition, offset)

    def _send_to_deadletter(self, message: Message, reason: str) -> None:
        headers = deadletter_headers(reason, *position_of(message))
        self.deadletter.append_raw(
            DEADLETTER_TOPIC, message.key(), message.value() or b"", headers=list(headers)
        ).result(30)


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
    consumer = Consumer(
        consumer_config(settings, "livefold-reader", **{"enable.partition.eof": True})
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        unfinished: dict[tuple[str, int], int] = {}
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                if high > low:
                    unfinished[(topic, partition)] = high
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in unfinished])
        reader = EventReader(consumer, codec, deadletter)
        while unfinished:
            for message in consumer.consume(500, 1.0):
                topic, partition, offset = position_of(message)
                if (topic, partition) not in unfinished:
                    continue
                error = message.error()
                if error is not None and error.code() == PARTITION_EOF:
                    del unfinished[(topic, partition)]
                    continue
                end = unfinished[(topic, partition)]
                if offset >= end - 1:
                    del unfinished[(topic, partition)]
                if offset < end:
                    record = reader.decode(message)
                    if record is not None:
                        yield record
    finally:
        consumer.close()
