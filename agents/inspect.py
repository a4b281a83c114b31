"""The fold workers' live states, read from outside the workers (`livefold replay --verify`).

    live_states(settings) -> {domain: {key: state}}

Each domain's table is the compacted changelog topic `<fold_group>-<domain>-changelog`: its
last record per key is the state the workers hold (they write every change there before they
commit the events behind it). Reading every changelog to its current end therefore gives the
states as of the workers' last writes, without asking a worker; `folding.digest` of the result
is comparable with a replay's digest once the workers have caught up with the log (see
`caught_up`). The moderation domain also gets the platform state (`PLATFORM`) that every
worker folds for itself (`agents.platform`), folded here the same way, if the log has any.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from agents.driver import partition_of
from agents.folds import TABLES
from agents.platform import ACCOUNTS, MODERATION
from agents.state_records import state_of
from livefold.moderation import fold as moderation
from livefold.moderation.state import PLATFORM, ModerationState
from livefold.settings import Settings
from streams.codec import Codec, DecodeError
from streams.consumer import TopicFollower, retried

States = dict[str, dict[str, Any]]


def live_states(
    settings: Settings, codec: Codec | None = None, table_names: list[str] = TABLES
) -> States:
    """Every table's states as the workers last wrote them; domains without a changelog topic
    yet (no worker ever ran) are empty."""
    from agents.app import changelog_topic

    topics = {changelog_topic(settings, table): table for table in table_names}
    metadata = _metadata(settings)
    states: States = {table: {} for table in table_names}
    partitions = [
        (topic, partition)
        for topic in topics
        if topic in metadata.topics
        for partition in metadata.topics[topic].partitions
    ]
    for message in read_raw(settings, partitions):
        key, value = message.key(), message.value()
        if key is not None and value is not None:
            states[topics[message.topic() or ""]][key.decode()] = state_of(value)
    platform = platform_state(settings, codec or Codec.from_settings(settings))
    if platform is not None:
        states[moderation.CHANNEL][PLATFORM] = platform
    return states


def platform_state(settings: Settings, codec: Codec) -> ModerationState | None:
    """The platform moderation state the log implies, None if no event concerns it."""
    state: ModerationState | None = None
    accounts = _metadata(settings).topics[ACCOUNTS].partitions
    partitions = [(ACCOUNTS, p) for p in accounts]
    partitions.append((MODERATION, partition_of(PLATFORM, settings.topic_partitions)))
    for message in read_raw(settings, partitions):
        if message.topic() == MODERATION and message.key() != PLATFORM.encode():
            continue
        try:
            event = codec.decode(message.value() or b"")
        except DecodeError:
            continue
        if moderation.key_of(event) == PLATFORM and event.type in moderation.HANDLES:
            state, _ = moderation.fold(state, event)
    return state


def caught_up(settings: Settings, topics: list[str]) -> bool:
    """Whether the fold group has committed every record now on `topics`."""
    consumer = Consumer(_config(settings, settings.fold_group))
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in metadata.topics[topic].partitions
        ]
        committed = consumer.committed(partitions, timeout=10)
        for tp in committed:
            _, high = retried(partial(consumer.get_watermark_offsets, tp, 10), 30.0)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


def read_raw(settings: Settings, partitions: list[tuple[str, int]]) -> Iterator[Message]:
    """The records of the (topic, partition)s, from offset zero to their end as it was when
    reading began (each partition in order)."""
    if not partitions:
        return
    wanted = set(partitions)
    follower = TopicFollower(
        settings.kafka_config(),
        sorted({topic for topic, _ in partitions}),
        None,
        "livefold-inspect",
        pick=lambda topic, found: [p for p in found if (topic, p) in wanted],
    )
    yield from follower.read_to_end()


def _metadata(settings: Settings) -> Any:
    return AdminClient(settings.kafka_config()).list_topics(timeout=10)


def _config(settings: Settings, group: str) -> dict[str, Any]:
    return {
        **settings.kafka_config(),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
