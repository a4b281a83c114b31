"""The check before a keyed write (gateway/resends.py LoggedWrites): what the gateway appended
itself is known from its acks without reading it back; a stranger's record past what the
follower read still makes the check wait until the follower has read it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Message, Producer

from gateway.resends import LoggedWrites, keyed_headers
from livefold.settings import Settings
from streams.producer import Ack
from tests.test_kafka import create_topic


def test_own_appends_are_known_at_once_and_a_strangers_once_read(stack: Settings) -> None:
    topic = create_topic(stack.kafka_bootstrap, partitions=1)
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})

    def append(event_id: str, keyed: bool) -> Ack:
        acks: list[Message] = []
        headers = keyed_headers(event_id) if keyed else None
        producer.produce(topic, b"x", partition=0, headers=headers, on_delivery=_into(acks))
        assert producer.flush(15) == 0 and acks[0].error() is None
        return Ack(event_id, topic, 0, acks[0].offset() or 0)

    async def scenario() -> None:
        logged = LoggedWrites(stack, asyncio.get_running_loop(), [topic])
        # Assigned, not following yet: the follower reads nothing until its thread starts
        # (`TopicFollower.start` is these two steps).
        follower = logged._follower
        follower.start_ends = await asyncio.to_thread(follower._assign, 30.0, None)
        try:
            own_keyed, own_plain = append("own-keyed", True), append("own-plain", False)
            logged.appended(own_keyed, keyed=True)
            logged.appended(own_plain, keyed=False)
            started = time.monotonic()
            assert await asyncio.wait_for(logged.find(topic, "own-keyed"), 5) == own_keyed
            assert await asyncio.wait_for(logged.find(topic, "new"), 5) is None
            assert time.monotonic() - started < 5  # before: 503 after 10 s, nothing read

            stranger = append("strangers", True)  # another gateway's keyed write
            check = asyncio.ensure_future(logged.find(topic, "strangers"))
            await asyncio.sleep(1.0)
            assert not check.done()  # it waits for the follower to read the stranger's record
            follower._thread.start()
            assert await asyncio.wait_for(check, 10) == stranger
        finally:
            await asyncio.to_thread(logged.stop)

    asyncio.run(scenario())


def _into(acks: list[Message]) -> Callable[[KafkaError | None, Message], None]:
    def delivered(error: KafkaError | None, message: Message) -> None:
        acks.append(message)

    return delivered
