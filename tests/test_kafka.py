"""Kafka as livefold runs it: records come back exactly as produced, and outlive the broker."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from infra import kafka
from infra.errors import InfraError
from infra.service import running
from livefold.settings import Settings
from streams.consumer import retried
from tests.servers import log_to, settings_on_free_ports

Record = tuple[bytes | None, bytes | None]


def create_topic(bootstrap: str, partitions: int = 3) -> str:
    topic = f"test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
    created[topic].result(timeout=15)
    return topic


def produce(bootstrap: str, topic: str, records: list[Record]) -> dict[int, list[Record]]:
    """What the broker acknowledged, per partition, in offset order."""
    acknowledged: dict[int, list[tuple[int, Record]]] = defaultdict(list)
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(error)
            return
        partition, offset = message.partition(), message.offset()
        assert partition is not None and offset is not None
        acknowledged[partition].append((offset, (message.key(), message.value())))

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert failures == []
    return {
        partition: [record for _, record in sorted(acked)]
        for partition, acked in acknowledged.items()
    }


def read_all(bootstrap: str, topic: str) -> dict[int, list[Record]]:
    """Every record of the topic, per partition, from the first offset to the current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        # Just after a broker restart a partition may have no leader yet: ask until it has.
        ends = {
            p: retried(
                lambda p=p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10),
                30,
            )[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: dict[int, list[Record]] = {p: [] for p in partitions if ends[p] > 0}
        next_offset = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + 30
        while any(next_offset[p] < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"read {next_offset} of {ends}"
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset == next_offset[partition]
            records[partition].append((message.key(), message.value()))
            next_offset[partition] = offset + 1
        return records
    finally:
        consumer.close()


def cluster_id(bootstrap: str) -> str:
    return str(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).cluster_id)


def chat(count: int) -> list[Record]:
    return [(f"viewer-{i % 7}".encode(), f"message {i}".encode()) for i in range(count)]


def test_records_come_back_exactly_as_produced(stack: Settings) -> None:
    topic = create_topic(stack.kafka_bootstrap)
    sent = chat(300)

    acknowledged = produce(stack.kafka_bootstrap, topic, sent)

    assert sorted(r for records in acknowledged.values() for r in records) == sorted(sent)
    assert read_all(stack.kafka_bootstrap, topic) == acknowledged


def test_records_of_one_key_stay_in_the_order_they_were_sent(stack: Settings) -> None:
    topic = create_topic(stack.kafka_bootstrap)
    sent = chat(300)
    produce(stack.kafka_bootstrap, topic, sent)

    read = read_all(stack.kafka_bootstrap, topic)

    for key in {key for key, _ in sent}:
        partitions = [p for p, records in read.items() if any(k == key for k, _ in records)]
        assert len(partitions) == 1, f"{key!r} is spread over partitions {partitions}"
        in_partition = [value for k, value in read[partitions[0]] if k == key]
        assert in_partition == [value for k, value in sent if k == key]


def test_topics_get_the_configured_number_of_partitions(stack: Settings) -> None:
    topic = f"test-{uuid.uuid4().hex[:12]}"
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    producer.produce(topic, value=b"auto-created")
    assert producer.flush(30) == 0

    metadata = AdminClient({"bootstrap.servers": stack.kafka_bootstrap}).list_topics(topic, 10)

    assert len(metadata.topics[topic].partitions) == stack.topic_partitions


def test_records_survive_a_broker_restart(scratch: Settings) -> None:
    logs = log_to(scratch.data_dir / "logs")
    with running([kafka.service(scratch)], output=logs):
        topic = create_topic(scratch.kafka_bootstrap)
        acknowledged = produce(scratch.kafka_bootstrap, topic, chat(100))
        cluster = cluster_id(scratch.kafka_bootstrap)

    # The second start finds its storage formatted: it must reuse it, not format it again.
    with running([kafka.service(scratch)], output=logs):
        assert cluster_id(scratch.kafka_bootstrap) == cluster
        assert read_all(scratch.kafka_bootstrap, topic) == acknowledged


def test_a_broker_started_again_on_other_ports_keeps_its_data(tmp_path: Path) -> None:
    before = settings_on_free_ports(tmp_path)
    logs = log_to(tmp_path / "logs")
    with running([kafka.service(before)], output=logs):
        topic = create_topic(before.kafka_bootstrap)
        acknowledged = produce(before.kafka_bootstrap, topic, chat(50))

    after = settings_on_free_ports(tmp_path)
    assert (after.kafka_port, after.kafka_controller_port) != (
        before.kafka_port,
        before.kafka_controller_port,
    )
    with running([kafka.service(after)], output=logs):
        assert read_all(after.kafka_bootstrap, topic) == acknowledged
        # The controller answers on its new port: creating a topic goes through it.
        fresh = create_topic(after.kafka_bootstrap)
        assert read_all(after.kafka_bootstrap, fresh) == {}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("kafka_heap", "lots", "LIVEFOLD_KAFKA_HEAP"),
        ("topic_partitions", 0, "LIVEFOLD_TOPIC_PARTITIONS"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_to_change(
    scratch: Settings, setting: str, value: object, message: str
) -> None:
    broken = Settings(**(scratch.model_dump() | {setting: value}))

    with pytest.raises(InfraError, match=message):
        kafka.service(broken).prepare()
