"""The one "read from a moment, then follow" helper (streams/consumer.py TopicFollower) says how far
it has read, also for a partition that holds records but none since the moment it starts from."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Producer

from livefold.settings import Settings
from streams.consumer import Positions, TopicFollower, read_up_to
from tests.test_kafka import create_topic


def test_a_partition_with_only_records_older_than_the_start_counts_as_read(
    stack: Settings,
) -> None:
    topic = create_topic(stack.kafka_bootstrap, partitions=2)
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    hour_ago_ms = int(time.time() * 1000) - 3_600_000
    for partition in (0, 1):
        for n in range(3):
            producer.produce(topic, value=b"old %d" % n, partition=partition, timestamp=hour_ago_ms)
    assert producer.flush(15) == 0
    reached: Positions = {}
    changed = threading.Condition()

    def deliver(_messages: list[object], positions: Positions) -> None:
        with changed:
            reached.update(positions)
            changed.notify_all()

    follower = TopicFollower(stack.kafka_config(), [topic], deliver, "test-follower")
    ends = follower.start(30, since_ms=int(time.time() * 1000) - 60_000)
    try:
        assert ends == {(topic, 0): 3, (topic, 1): 3}
        with changed:  # nothing is written after the start, and nothing is left to read
            assert changed.wait_for(lambda: read_up_to(reached, ends), timeout=15), reached
    finally:
        follower.stop()
