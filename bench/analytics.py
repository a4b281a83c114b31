"""Analytics and replay benchmarks against the private stack the runner started:

- `replay`: `livefold replay` of a log of a million realistic events (goal: < 60 s);
- `analytics_sink`: rows per second the sink process writes while catching up on that log;
- `analytics_latency`: from an event produced to its row in ClickHouse (goal: < 2 s).

The log is generated (`bench.sessions`, 16 streams) and produced once; a later benchmark of
the same run finds it there. Each sink runs in a fresh database and consumer group.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver import Client
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from agents import analytics
from agents.analytics_schema import drop_schema
from agents.replay import replay
from bench.sessions import generate
from infra.service import RunningService
from livefold.analytics_store import clickhouse_client
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import new_event
from streams.producer import EventProducer
from streams.provision import provision

LOG_EVENTS = 1_000_000
EVENTS_PER_STREAM_SECOND = 21  # what `generate` makes, about


def log_size(settings: Settings) -> int:
    return sum(analytics.lag(settings, f"bench-probe-{uuid.uuid4().hex}").values())


def ensure_log(settings: Settings, count: int = LOG_EVENTS) -> dict[str, Any]:
    """At least `count` events on the event topics; how long generating and producing took."""
    provision(settings)
    present = log_size(settings)
    if present >= count:
        return {"log_events": present}
    streams = 16
    seconds = (count - present) // (streams * EVENTS_PER_STREAM_SECOND) + 60
    started = time.perf_counter()
    events = generate(seed=int(time.time()), streams=streams, seconds=seconds, duplicates=0.01)
    generated = time.perf_counter() - started
    producer = EventProducer(settings, Codec.from_settings(settings))
    started = time.perf_counter()
    for start in range(0, len(events), 100_000):
        producer.append_all(events[start : start + 100_000], timeout=300)
    produced = time.perf_counter() - started
    producer.close()
    return {
        "log_events": log_size(settings),
        "generate_per_s": round(len(events) / generated),
        "produce_per_s": round(len(events) / produced),
    }


def replay_time(settings: Settings) -> dict[str, Any]:
    log = ensure_log(settings)
    result = replay(settings)
    client = clickhouse_client(settings)
    try:
        assert result.clickhouse_prefix is not None
        drop_schema(client, settings.clickhouse_database, result.clickhouse_prefix)
    finally:
        client.close()
    return {
        **log,
        "events": result.events,
        "seconds": round(result.seconds, 2),
        "events_per_s": round(result.events / result.seconds),
        "fold_seconds": round(result.fold_seconds, 2),
        "clickhouse_rebuild_seconds": round(result.clickhouse_seconds or 0.0, 2),
        "goal_seconds": 60,
    }


def _sink(settings: Settings, group: str) -> RunningService:
    service = analytics.AnalyticsService(
        name="analytics-bench",
        workdir=settings.data_dir / "analytics-bench",
        settings=settings,
        group=group,
        client_id=f"{group}-client",
    )
    log = (settings.data_dir / "analytics-bench.log").open("ab")
    handle = RunningService(service, log)
    handle.start()
    return handle


def _fresh(settings: Settings) -> tuple[Settings, str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    return settings.model_copy(update={"clickhouse_database": name}), name


def sink_throughput(settings: Settings) -> dict[str, Any]:
    log = ensure_log(settings)
    settings, group = _fresh(settings)
    handle = _sink(settings, group)
    started = time.perf_counter()
    try:
        while analytics.lag(settings, group):
            time.sleep(0.25)
        seconds = time.perf_counter() - started
    finally:
        handle.stop()
    client = clickhouse_client(settings)
    try:
        rows = _count(client, "SELECT count() FROM events")
        client.command(f"DROP DATABASE {settings.clickhouse_database}")
    finally:
        client.close()
    return {**log, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def _count(client: Client, sql: str, **parameters: str) -> int:
    return int(client.query(sql, parameters=parameters).result_rows[0][0])


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        f"p{q}": round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)
        for q in (50, 99)
    } | {"max": round(ordered[-1], 1)}


def sink_latency(settings: Settings, rate: int = 100, seconds: int = 10) -> dict[str, Any]:
    """Events at a steady `rate`: produced -> row written (`ingested_at`); then one event at a
    time: produced -> row visible to a query."""
    settings, group = _fresh(settings)
    admin = AdminClient(settings.kafka_config())
    ends = analytics.lag(settings, f"bench-probe-{uuid.uuid4().hex}")
    start_at_end = [TopicPartition(topic, number, end) for (topic, number), end in ends.items()]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, start_at_end)])[
        group
    ].result()
    handle = _sink(settings, group)
    producer = EventProducer(settings, Codec.from_settings(settings))
    client = clickhouse_client(settings)
    stream = f"latency-{uuid.uuid4().hex[:8]}"
    try:
        started = time.perf_counter()
        for n in range(rate * seconds):
            time.sleep(max(0.0, started + n / rate - time.perf_counter()))
            event = new_event(
                "livefold.reactions.ReactionSent",
                stream_id=stream,
                actor_id="v",
                occurred_at=datetime.now(UTC),
                kind="fire",
                count=1,
            )
            producer.append(event)
        producer.flush()
        count = "SELECT count() FROM events WHERE stream_id = {s:String}"
        while _count(client, count, s=stream) < rate * seconds:
            time.sleep(0.1)
        written = [
            float(ms)
            for (ms,) in client.query(
                "SELECT toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(occurred_at)"
                " FROM events WHERE stream_id = {s:String}",
                parameters={"s": stream},
            ).result_rows
        ]
        visible: list[float] = []
        probe = f"{stream}-probe"
        for n in range(20):
            event = new_event(
                "livefold.reactions.ReactionSent",
                stream_id=probe,
                actor_id="v",
                kind="fire",
                count=1,
            )
            sent = time.perf_counter()
            producer.append(event).result(10)
            while _count(client, count, s=probe) <= n:
                time.sleep(0.005)
            visible.append((time.perf_counter() - sent) * 1000)
            time.sleep(0.3)
    finally:
        producer.close()
        handle.stop()
        client.command(f"DROP DATABASE {settings.clickhouse_database}")
        client.close()
    return {
        "events": rate * seconds,
        "rate_per_s": rate,
        "produced_to_written_ms": _percentiles(written),
        "produced_to_visible_ms": _percentiles(visible),
        "goal_ms": 2000,
    }


BENCHMARKS = {
    "replay": replay_time,
    "analytics_sink": sink_throughput,
    "analytics_latency": sink_latency,
}
