"""Topic creation against the stack's Kafka: idempotent, configured, and tolerant of old topics."""

from __future__ import annotations

import logging
import uuid

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, state_topic
from streams.topics import TopicError, TopicSpec, ensure_topics, topic_specs


def configs(settings: Settings, topic: str) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {name: entry.value for name, entry in entries.items()}


def test_every_topic_exists_with_its_retention_after_ensure_topics_twice(stack: Settings) -> None:
    first = ensure_topics(stack)
    names = [spec.name for spec in topic_specs(stack)]
    assert sorted(first.created + first.existing) == sorted(names)
    second = ensure_topics(stack)
    assert second.created == [] and sorted(second.existing) == sorted(names)
    assert second.fewer_partitions == {}
    assert configs(stack, "livefold.chat.v1")["retention.ms"] == "-1"
    assert configs(stack, state_topic("polls"))["cleanup.policy"] == "compact"
    assert int(configs(stack, DEADLETTER_TOPIC)["retention.ms"]) > 0


def test_a_topic_with_fewer_partitions_than_asked_is_kept_with_a_warning(
    stack: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_topics(stack)
    more = stack.model_copy(update={"topic_partitions": stack.topic_partitions + 2})
    with caplog.at_level(logging.WARNING, logger="streams.topics"):
        report = ensure_topics(more)
    assert report.fewer_partitions["livefold.chat.v1"] == (
        stack.topic_partitions,
        stack.topic_partitions + 2,
    )
    assert "topic livefold.chat.v1 has 3 partitions, LIVEFOLD_TOPIC_PARTITIONS asks for 5" in (
        caplog.text
    )
    assert report.created == []


def test_a_replication_factor_above_the_broker_count_names_the_setting(stack: Settings) -> None:
    spec = TopicSpec(f"test.replicas.{uuid.uuid4().hex[:8]}", 1, 3)
    with pytest.raises(TopicError, match="lower LIVEFOLD_TOPIC_REPLICATION_FACTOR"):
        ensure_topics(stack, [spec])
