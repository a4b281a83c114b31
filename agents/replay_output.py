"""What a replay hands out: a report for people, and the final states on fresh state topics."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from confluent_kafka import Producer

from agents.replay import ReplayResult
from livefold.domains import DOMAINS
from livefold.folding import Update
from livefold.moderation import fold as moderation
from livefold.settings import Settings
from streams.codec import Codec
from streams.producer import producer_config
from streams.state import StateWriter
from streams.topics import TopicSpec, ensure_topics


def final_updates(result: ReplayResult, now: datetime) -> dict[tuple[str, str], Update]:
    """What the state topics hold once the timers ran at `now`: each (channel, key)'s last
    update, or what `flush` still owed (a poll past its deadline, a reaction window)."""
    updates = dict(result.last_updates)
    flushes = {name: domain.flush for name, domain in DOMAINS.items()}
    flushes[moderation.CHANNEL] = moderation.flush
    for name, states in result.tables.items():
        for state in states.values():
            for output in flushes[name](state, now)[1]:
                if isinstance(output, Update):
                    updates[(output.channel, output.key)] = output
    return updates


def publish_state(settings: Settings, result: ReplayResult, name: str) -> dict[str, int]:
    """Write `final_updates` (as of now) to fresh compacted topics
    `livefold.<name>.state.<channel>.v1`; records per topic."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"state topic name {name!r}: use lowercase letters, digits, - and _")
    updates = final_updates(result, datetime.now(UTC))
    topics = {channel: f"livefold.{name}.state.{channel}.v1" for channel, _ in updates}
    specs = [
        TopicSpec(
            topic,
            settings.topic_partitions,
            settings.topic_replication_factor,
            {"cleanup.policy": "compact"},
        )
        for topic in sorted(set(topics.values()))
    ]
    ensure_topics(settings, specs)
    writer = StateWriter.registered(Codec.from_settings(settings))
    producer = Producer(producer_config(settings))
    counts: dict[str, int] = {}
    for (channel, _), update in sorted(updates.items()):
        record = writer.record(update)
        topic = topics[channel]
        producer.produce(topic, key=record.key, value=record.value)
        producer.poll(0)
        counts[topic] = counts.get(topic, 0) + 1
    if producer.flush(60):
        raise RuntimeError("state records still unacknowledged after 60 s")
    return counts


def report(result: ReplayResult) -> str:
    lines = [
        f"replayed {result.events:,} events in {result.seconds:.1f} s"
        f" ({result.events / max(result.seconds, 1e-9):,.0f} events/s)",
        "",
        f"  {'domain':<12} {'states':>8}  digest",
    ]
    for name, states in result.tables.items():
        lines.append(f"  {name:<12} {len(states):>8}  {result.digests[name]}")
    lines.append(f"  {'overall':<12} {'':>8}  {result.digest}")
    verdicts = result.verdicts.as_dict()
    lines.append(
        "\nmoderation verdicts: {decided} decided, {matching} as logged, {differing} differ,"
        " {missing} not in the log".format(**verdicts)
    )
    if result.failures:
        lines.append(f"\n{len(result.failures)} events a fold raised on (state left as before):")
        lines += [f"  {f.record.event.event_id}: {f.reason}" for f in result.failures[:20]]
    if result.clickhouse is not None:
        lines.append(
            f"\nClickHouse tables {result.clickhouse_prefix}* rebuilt in"
            f" {result.clickhouse_seconds or 0:.1f} s:"
        )
        for table, figures in result.clickhouse.items():
            shown = ", ".join(f"{name}={value}" for name, value in figures.items())
            lines.append(f"  {table:<22} {shown}")
    return "\n".join(lines)
