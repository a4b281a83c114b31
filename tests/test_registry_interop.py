"""livefold's codec and confluent-kafka's Avro serializers read each other's records, through
livefold's schema registry and a real Kafka topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from livefold.settings import Settings
from streams.catalog import catalog
from streams.codec import Codec
from streams.events import Event, new_event, to_millis

MESSAGE_SENT = "livefold.chat.MessageSent"
SENT_AT = datetime(2026, 5, 1, 12, 30, 15, 250_000, tzinfo=UTC)


def message_sent(text: str) -> Event:
    return new_event(
        MESSAGE_SENT,
        stream_id="stream-7",
        actor_id="user-42",
        occurred_at=SENT_AT,
        message_id=f"m-{uuid.uuid4().hex[:6]}",
        text=text,
        reply_to=None,
        emotes=[{"name": "PogChamp", "positions": [{"start": 0, "end": 8}]}],
        badges=["subscriber"],
    )


@pytest.fixture
def registry(stack: Settings) -> SchemaRegistryClient:
    return SchemaRegistryClient(stack.registry_config())


@pytest.fixture
def codec(registry: SchemaRegistryClient) -> Codec:
    # Its own registry client: ids it learns come from the server, not another's cache.
    return Codec(SchemaRegistryClient(dict(registry.config())))  # type: ignore[no-untyped-call]


@pytest.fixture
def topic(stack: Settings) -> Iterator[str]:
    name = f"test.interop.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


def through_kafka(settings: Settings, topic: str, values: list[bytes]) -> list[bytes]:
    """Produce the values (acks=all) and read them back from the topic."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, key=b"stream-7", value=value)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"interop-{uuid.uuid4()}"}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    received: list[bytes] = []
    try:
        for _ in range(100):
            message = consumer.poll(0.5)
            body = None if message is None or message.error() else message.value()
            if body is not None:
                received.append(body)
            if len(received) == len(values):
                return received
    finally:
        consumer.close()
    raise AssertionError(f"read {len(received)} of {len(values)} records back from {topic}")


def confluent_serializer(
    registry: SchemaRegistryClient, schema_str: str
) -> Callable[[dict[str, Any], SerializationContext], bytes]:
    serializer = AvroSerializer(
        registry, schema_str, conf={"subject.name.strategy": topic_record_subject_name_strategy}
    )

    def serialize(body: dict[str, Any], context: SerializationContext) -> bytes:
        payload = serializer(body, context)
        assert payload is not None
        return bytes(payload)

    return serialize


def test_the_codec_and_confluents_strategy_name_the_same_subject_and_get_the_same_id(
    registry: SchemaRegistryClient, codec: Codec
) -> None:
    event_type = catalog()[MESSAGE_SENT]
    context = SerializationContext(event_type.topic, MessageField.VALUE)
    subject = topic_record_subject_name_strategy(context, MESSAGE_SENT)
    assert codec.subject_of(event_type) == subject == "livefold.chat.v1-livefold.chat.MessageSent"

    payload = confluent_serializer(registry, event_type.schema_str)(
        message_sent("hi").body, context
    )

    assert payload[:5] == codec.encode(message_sent("hi"))[:5]  # magic byte and schema id


def test_records_written_by_confluents_serializer_are_read_by_livefolds_codec(
    registry: SchemaRegistryClient, codec: Codec, topic: str, stack: Settings
) -> None:
    event_type = catalog()[MESSAGE_SENT]
    context = SerializationContext(event_type.topic, MessageField.VALUE)
    serialize = confluent_serializer(registry, event_type.schema_str)
    sent = [message_sent("first"), message_sent("second")]

    received = through_kafka(stack, topic, [serialize(event.body, context) for event in sent])

    assert [codec.decode(value) for value in received] == sent


def test_records_written_by_livefolds_codec_are_read_by_confluents_deserializer(
    registry: SchemaRegistryClient, codec: Codec, topic: str, stack: Settings
) -> None:
    sent = message_sent("hello from livefold")
    deserialize = AvroDeserializer(
        registry, conf={"subject.name.strategy": topic_record_subject_name_strategy}
    )

    (received,) = through_kafka(stack, topic, [codec.encode(sent)])
    read: dict[str, Any] = deserialize(received, SerializationContext(topic, MessageField.VALUE))

    # confluent-kafka applies the logical types: a UUID object and an aware datetime.
    assert str(read.pop("event_id")) == sent.event_id
    assert to_millis(read.pop("occurred_at")) == sent.occurred_at_ms == to_millis(SENT_AT)
    assert read == {k: v for k, v in sent.body.items() if k not in ("event_id", "occurred_at")}


def test_an_older_schema_written_by_confluent_is_read_by_the_codec_with_the_new_defaults(
    registry: SchemaRegistryClient, codec: Codec, topic: str, stack: Settings
) -> None:
    current = json.loads(catalog()[MESSAGE_SENT].schema_str)
    older = {**current, "fields": [f for f in current["fields"] if f["name"] != "emotes"]}
    old_body = {k: v for k, v in message_sent("before emotes").body.items() if k != "emotes"}
    serialize = confluent_serializer(registry, json.dumps(older))

    (received,) = through_kafka(
        stack, topic, [serialize(old_body, SerializationContext(topic, MessageField.VALUE))]
    )
    event = codec.decode(received)

    assert event.type == MESSAGE_SENT
    assert event.body == {**old_body, "emotes": []}
