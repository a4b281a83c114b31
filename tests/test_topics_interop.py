"""Every topic livefold writes is readable by a plain confluent-kafka consumer with Confluent's
`AvroDeserializer` and the schema registry: the topics are listed from the broker (not from
livefold's catalog, so a topic nobody thought of counts too), and each is read to its end with a
`DeserializingConsumer`: events as their Avro records, state records as
`livefold.state.StateRecord`, the fold workers' changelogs as `livefold.state.FoldState` and
`DedupeWindowChunk`, dead letters as the event or a `livefold.deadletter.UndecodableRecord`.
Left out: Kafka's own topics (`__consumer_offsets`), the registry's store `_schemas` (the
registry's own format, as Confluent's registry keeps it; read through the registry's API), and
topics tests make for themselves (`test-...`, `test.…`)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, DeserializingConsumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringDeserializer

from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, STATE_TOPICS, catalog, state_topic
from streams.codec import Codec
from streams.events import Event, new_event
from streams.producer import EventProducer
from tests.gateways import fold_workers

NOW = datetime.now(UTC)
MAGIC_BYTE = b"\x00"  # Confluent's wire format: magic byte, schema id, payload


def session(stream_id: str) -> list[Event]:
    def event(type_: str, seconds: int, actor: str, **payload: Any) -> Event:
        return new_event(
            f"livefold.{type_}",
            stream_id=stream_id,
            actor_id=actor,
            occurred_at=NOW + timedelta(seconds=seconds),
            **payload,
        )

    options = [{"option_id": "a", "text": "A"}, {"option_id": "b", "text": "B"}]
    return [
        event(
            "stream.Created",
            0,
            "host",
            title="Interop",
            category="Tests",
            tags=[],
            scheduled_start=None,
            language=None,
        ),
        event(
            "chat.MessageSent",
            1,
            "ann",
            message_id="m1",
            text="hello",
            reply_to=None,
            emotes=[],
            badges=[],
        ),
        event(
            "polls.PollCreated",
            2,
            "host",
            poll_id="p1",
            question="?",
            options=options,
            multi_select=False,
            allow_vote_change=True,
            duration_seconds=60,
        ),
        event("polls.PollOpened", 3, "host", poll_id="p1", closes_at=None),
        event("polls.VoteCast", 4, "ann", poll_id="p1", option_ids=["a"]),
    ]


def read_everything(settings: Settings, topics: list[str]) -> Iterator[Any]:
    """Every message now on the topics, from the beginning, with a plain consumer."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"interop-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        ends = {}
        metadata = consumer.list_topics(timeout=10)
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                if high > low:
                    ends[(topic, partition)] = high
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        while ends:
            message = consumer.poll(5)
            assert message is not None, f"no message while waiting for {sorted(ends)[:3]}"
            assert message.error() is None, message.error()
            position = (message.topic(), message.partition())
            if position in ends and message.offset() >= ends[position] - 1:
                del ends[position]
            yield message
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def written(stack: Settings) -> Iterator[str]:
    settings = stack.model_copy(update={"fold_group": f"interop-folds-{uuid.uuid4().hex[:6]}"})
    stream_id = f"interop-{uuid.uuid4().hex[:8]}"
    producer = EventProducer(settings, Codec.from_settings(settings))
    with fold_workers(settings):
        producer.append_all(session(stream_id))
        deadline = time.monotonic() + 60
        while not any(
            m.key() == f"{stream_id}/p1".encode()
            for m in read_everything(settings, [state_topic("polls")])
        ):
            assert time.monotonic() < deadline, "the poll's state was not published"
            time.sleep(0.5)
    producer.close()
    yield stream_id


def test_a_plain_confluent_consumer_reads_every_event_and_state_topic(
    stack: Settings, written: str
) -> None:
    stream_id = written
    deserialize = AvroDeserializer(SchemaRegistryClient(stack.registry_config()))
    topics = [*catalog().topics(), *(state_topic(channel) for channel in STATE_TOPICS)]
    read: Counter[str] = Counter()
    mine: dict[tuple[str, str], dict[str, Any]] = {}
    foreign = 0
    for message in read_everything(stack, topics):
        topic = message.topic()
        raw = message.value()
        if raw is None or not raw.startswith(MAGIC_BYTE):
            # Appended raw by other tests (tests/test_backbone.py, tests/test_fold_workers.py) to
            # prove undecodable records are dead-lettered; livefold's codec frames every record.
            foreign += 1
            continue
        value = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
        assert isinstance(value, dict), (topic, message.offset())
        read[topic] += 1
        if topic.startswith("livefold.state.") and value["stream_id"] == stream_id:
            mine[(value["channel"], value["key"])] = {**value, "value": json.loads(value["value"])}
        elif not topic.startswith("livefold.state."):
            assert isinstance(value["event_id"], uuid.UUID)  # logical types applied
    assert foreign < sum(read.values()) / 100, f"{foreign} records without the wire format"
    assert read[catalog()["livefold.chat.MessageSent"].topic] >= 1
    assert read[state_topic("polls")] >= 1 and read[state_topic("stream")] >= 1
    poll = mine[("polls", f"{stream_id}/p1")]
    assert poll["kind"] == "update" and poll["value"]["voters"] == 1
    assert mine[("stream", stream_id)]["value"]["title"] == "Interop"


NOT_LIVEFOLDS = ("__", "_schemas", "test-", "test.")


def livefold_topics(settings: Settings) -> list[str]:
    """Every topic on the broker that livefold made (see the module's docstring)."""
    topics = AdminClient(settings.kafka_config()).list_topics(timeout=10).topics
    return sorted(name for name in topics if not name.startswith(NOT_LIVEFOLDS))


def test_a_deserializing_consumer_reads_every_topic_livefold_created(
    stack: Settings, written: str
) -> None:
    topics = livefold_topics(stack)
    changelogs = [topic for topic in topics if topic.endswith("-changelog")]
    assert state_topic("notifications") in topics and DEADLETTER_TOPIC in topics
    assert any(topic.endswith("-polls-changelog") for topic in changelogs)
    assert any(topic.endswith("-polls-window-changelog") for topic in changelogs)
    registry = SchemaRegistryClient(stack.registry_config())
    consumer = DeserializingConsumer(
        {
            **stack.kafka_config(),
            "group.id": f"interop-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": AvroDeserializer(registry),
        }
    )
    read: Counter[str] = Counter()
    kinds: dict[str, set[str]] = {}
    try:
        ends = {}
        for topic in topics:
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                if high > low:
                    ends[(topic, partition)] = high
        with_records = {topic for topic, _ in ends}
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        while ends:
            try:
                message = consumer.poll(5)
            except Exception as error:  # the deserializer's error carries the record
                message = getattr(error, "kafka_message", None)
                if message is None:
                    raise
                if not _raw_by_a_test(message):
                    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
                    raise AssertionError(f"{where} does not deserialize: {error}") from error
                value = None
            else:
                assert message is not None, f"no message while waiting for {sorted(ends)[:3]}"
                value = message.value()
            position = (message.topic(), message.partition())
            if position in ends and message.offset() >= ends[position] - 1:
                del ends[position]
            if value is None:  # a tombstone (a dropped window chunk), or a test's raw record
                continue
            assert isinstance(value, dict), (position, message.offset())
            read[message.topic()] += 1
            kinds.setdefault(message.topic(), set()).update(value)
    finally:
        consumer.close()
    assert set(read) == with_records
    polls_changelog = next(t for t in changelogs if t.endswith("-polls-changelog"))
    assert kinds[polls_changelog] == {"state"}
    assert json.loads(next(iter(_values(stack, polls_changelog, registry)))["state"])["stream_id"]


def _values(settings: Settings, topic: str, registry: SchemaRegistryClient) -> Iterator[Any]:
    deserialize = AvroDeserializer(registry)
    for message in read_everything(settings, [topic]):
        if message.value() is not None:
            yield deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))


def _raw_by_a_test(message: Any) -> bool:
    """Records other tests append raw to an event topic to prove they are dead-lettered
    (tests/test_backbone.py, tests/test_fold_workers.py): never written by livefold."""
    raw = message.value() or b""
    return message.topic() in catalog().topics() and not raw.startswith(MAGIC_BYTE)
