"""The producer and consumer helpers against the real Kafka and schema registry."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from infra.service import free_port
from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, event_topic
from streams.codec import Codec, EventValidationError
from streams.consumer import EventReader, consumer_config, original_of, read_to_end
from streams.events import Event, new_event
from streams.producer import AppendError, EventProducer


def chat_message(stream_id: str, text: str, user: str = "viewer-1") -> Event:
    return new_event(
        "livefold.chat.MessageSent",
        stream_id=stream_id,
        actor_id=user,
        message_id=str(uuid.uuid4()),
        text=text,
        reply_to=None,
        emotes=[],
        badges=[],
    )


@pytest.fixture(scope="module")
def codec(stack: Settings) -> Codec:
    return Codec.from_settings(stack)


@pytest.fixture(scope="module")
def producer(stack: Settings, codec: Codec) -> EventProducer:
    appender = EventProducer(stack, codec)
    yield appender
    appender.close()


def events_of(
    stack: Settings, codec: Codec, producer: EventProducer, stream_id: str
) -> list[Event]:
    topics = codec.catalog.topics()
    return [
        r.event
        for r in read_to_end(stack, codec, topics, producer)
        if r.event.stream_id == stream_id
    ]


def test_an_acknowledged_append_is_read_back_exactly(stack, codec, producer):
    stream_id = f"stream-{uuid.uuid4()}"
    sent = [chat_message(stream_id, f"message {n}") for n in range(50)]
    acks = producer.append_all(sent)
    assert [ack.event_id for ack in acks] == [event.event_id for event in sent]
    assert all(ack.topic == event_topic("chat") and ack.offset >= 0 for ack in acks)
    assert len({ack.partition for ack in acks}) == 1  # keyed by stream: one partition, in order
    assert events_of(stack, codec, producer, stream_id) == sent


def test_an_invalid_event_is_refused_before_anything_is_produced(stack, codec, producer):
    stream_id = f"stream-{uuid.uuid4()}"
    bad = new_event(
        "livefold.polls.PollCreated",
        stream_id=stream_id,
        actor_id="streamer",
        poll_id="p1",
        question="Only one option?",
        options=[{"option_id": "a", "text": "yes"}],
        multi_select=False,
        allow_vote_change=True,
        duration_seconds=60,
    )
    with pytest.raises(EventValidationError) as refused:
        producer.append(bad)
    assert "options" in str(refused.value)
    assert events_of(stack, codec, producer, stream_id) == []


def test_append_async_resolves_after_the_broker_acknowledges(stack, codec, producer):
    stream_id = f"stream-{uuid.uuid4()}"
    event = chat_message(stream_id, "hello from asyncio")

    async def send() -> str:
        ack = await producer.append_async(event)
        return ack.event_id

    assert asyncio.run(send()) == event.event_id
    assert events_of(stack, codec, producer, stream_id) == [event]


def test_an_append_kafka_never_takes_raises_instead_of_vanishing(stack, codec):
    nowhere = stack.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    appender = EventProducer(nowhere, codec, **{"delivery.timeout.ms": 1500})
    try:
        pending = appender.append(chat_message("stream-lost", "into the void"))
        with pytest.raises(AppendError):
            pending.result(timeout=20)
    finally:
        appender.close()


def test_undecodable_records_go_to_the_dead_letter_topic_and_reading_goes_on(
    stack, codec, producer
):
    stream_id = f"stream-{uuid.uuid4()}"
    topic = event_topic("chat")
    before = chat_message(stream_id, "before the garbage")
    after = chat_message(stream_id, "after the garbage")
    producer.append_all([before])
    producer.append_raw(topic, stream_id, b"not avro at all").result(10)
    producer.append_all([after])

    assert events_of(stack, codec, producer, stream_id) == [before, after]

    dead = Consumer(consumer_config(stack, f"dlq-{uuid.uuid4()}"))
    try:
        metadata = dead.list_topics(DEADLETTER_TOPIC, timeout=10)
        partitions = metadata.topics[DEADLETTER_TOPIC].partitions
        dead.assign([TopicPartition(DEADLETTER_TOPIC, p, 0) for p in partitions])
        found = []
        for _ in range(20):
            found += [
                m
                for m in dead.consume(100, 0.5)
                if m.error() is None and m.key() == stream_id.encode()
            ]
            if found:
                break
        headers = dict(found[0].headers())
        assert original_of(found[0].value()) == b"not avro at all"
        assert b"magic byte" in headers["livefold.reason"]
        assert headers["livefold.source.topic"] == topic.encode()
    finally:
        dead.close()


def test_a_group_consumer_reads_decoded_records_and_commits(stack, codec, producer):
    stream_id = f"stream-{uuid.uuid4()}"
    sent = [chat_message(stream_id, f"n{n}") for n in range(5)]
    producer.append_all(sent)
    group = f"group-{uuid.uuid4()}"
    consumer = Consumer(consumer_config(stack, group))
    consumer.subscribe([event_topic("chat")])
    reader = EventReader(consumer, codec, producer)
    seen: list[Event] = []
    for _ in range(40):
        seen += [r.event for r in reader.poll(500, 0.5) if r.event.stream_id == stream_id]
        if len(seen) == len(sent):
            break
    reader.commit()
    reader.close()
    assert seen == sent
