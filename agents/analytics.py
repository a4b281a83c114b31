"""The analytics sink: every event topic into ClickHouse, in batches, each event once.

    python -m agents.analytics [--group GROUP] [--client-id ID]

A Kafka consumer in its own group (`GROUP`) reads every event topic, turns events into rows of
the `events` table (`agents.analytics_rows`) and inserts them in batches of up to `MAX_ROWS`,
at least every `MAX_DELAY` seconds; the materialized views fill the other tables (see
docs/analytics.md). Offsets are committed only after the insert succeeded: a crash
re-delivers, and `EventsTable` skips what is stored already. While ClickHouse fails, the sink
retries the same insert (same deduplication token) and reads nothing further. Several sinks may
share the group; each partition is written by one at a time.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_connect.driver.exceptions import ClickHouseError
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from agents.analytics_rows import PARTITION, TOPIC, EventsTable, Row
from agents.analytics_schema import ensure_schema
from agents.service import AgentService
from livefold.analytics_store import clickhouse_client
from livefold.settings import Settings
from streams.catalog import catalog
from streams.codec import Codec
from streams.consumer import EventReader, consumer_config
from streams.producer import EventProducer

GROUP = "livefold-analytics"
MAX_ROWS = 20_000
MAX_DELAY = 0.5  # seconds a consumed event may wait for its insert

log = logging.getLogger("livefold.analytics")


class AnalyticsSink:
    def __init__(
        self,
        settings: Settings,
        *,
        group: str = GROUP,
        client_id: str | None = None,
        live_file: Path | None = None,
    ) -> None:
        """`live_file`: touched every second while the sink works (or waits for ClickHouse)."""
        self.live_file = live_file
        self._beaten = 0.0
        codec = Codec.from_settings(settings)
        self.client = clickhouse_client(settings, in_database=False)  # tables are named in full
        ensure_schema(self.client, settings.clickhouse_database)
        self.table = EventsTable(self.client, settings.clickhouse_database)
        self.deadletter = EventProducer(settings, codec)
        consumer = Consumer(
            consumer_config(
                settings,
                group,
                **{
                    "client.id": client_id or f"{GROUP}-{uuid.uuid4().hex[:8]}",
                    "fetch.wait.max.ms": 50,  # rows must show within a second or two
                    "session.timeout.ms": 10_000,
                },
            )
        )
        self.reader = EventReader(consumer, codec, self.deadletter, wait=self._waited)
        self.stop = threading.Event()
        self.rows: list[Row] = []  # admitted, not inserted yet
        self.token = ""  # the pending rows' insert deduplication token
        self.oldest = 0.0  # monotonic time the oldest pending record was consumed
        self.inserted = 0
        self._uncommitted = False

    @property
    def consumer(self) -> Consumer:
        return self.reader.consumer

    def run(self) -> None:
        """Sink until `stop` is set; then insert and commit what was read, and close."""
        self.consumer.subscribe(
            catalog().topics(),
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )
        try:
            while not self.stop.is_set():
                self.step()
            self.flush()
        except _Stopped:
            log.info(
                "analytics: stopped before %d rows were stored; Kafka has them", len(self.rows)
            )
        finally:
            self.close()

    def step(self) -> None:
        """One poll, and a flush if the batch is full or its oldest record waited long enough."""
        self._beat()
        records = self.reader.poll(MAX_ROWS, 0.05)
        if records:
            if not self._uncommitted:
                self.oldest = time.monotonic()
            self._uncommitted = True
            if not self.rows:
                self.token = uuid.uuid4().hex
            self.rows += self.table.rows(records)
        if len(self.rows) >= MAX_ROWS or (
            self._uncommitted and time.monotonic() - self.oldest >= MAX_DELAY
        ):
            self.flush()

    def flush(self) -> None:
        """Insert the pending rows (retrying while ClickHouse fails), then commit the offsets."""
        if self.rows:
            self._retrying("insert", lambda: self.table.insert(self.rows, self.token))
            self.inserted += len(self.rows)
            self.rows = []
        if self._uncommitted:
            try:
                self.consumer.commit(asynchronous=False)
            except KafkaException as error:
                if error.args[0].code() != KafkaError._NO_OFFSET:
                    raise
            self._uncommitted = False

    def close(self) -> None:
        self.reader.close()
        self.deadletter.close()
        self.client.close()

    def _retrying(self, what: str, action: Callable[[], None]) -> None:
        delay = 0.2
        while True:
            try:
                action()
                return
            except (ClickHouseError, OSError) as error:
                log.warning("analytics: %s failed (%s); retrying in %.1f s", what, error, delay)
            self._beat()  # waiting for ClickHouse is working as meant: no restart helps
            if self.stop.wait(delay):
                raise _Stopped
            delay = min(delay * 2, 5.0)

    def _waited(self, seconds: float) -> bool:
        """Wait while the registry is unreachable (still live); True once asked to stop."""
        self._beat()
        return self.stop.wait(seconds)

    def _beat(self) -> None:
        now = time.monotonic()
        if self.live_file is not None and now - self._beaten >= 1.0:
            self.live_file.touch()
            self._beaten = now

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        taken = [(p.topic, p.partition) for p in partitions]
        committed = consumer.committed(partitions, timeout=30)
        resume_at = {(p.topic, p.partition): p.offset for p in committed}
        self._retrying("resuming", lambda: self.table.take_over(taken, resume_at))
        log.info("analytics: assigned %d partitions", len(partitions))

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # the next owner starts after our commit, with nothing left over
        self.table.give_up((p.topic, p.partition) for p in partitions)

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own them already: their pending rows are its to write now.
        lost = {(p.topic, p.partition) for p in partitions}
        self.rows = [row for row in self.rows if (row[TOPIC], row[PARTITION]) not in lost]
        self.table.give_up(lost)


class _Stopped(Exception):
    """Asked to stop while ClickHouse was failing."""


def lag(
    settings: Settings, group: str = GROUP, topics: list[str] | None = None
) -> dict[tuple[str, int], int]:
    """(topic, partition) -> records on the topics (default: every event topic) the group has not
    committed yet."""
    admin = AdminClient(settings.kafka_config())
    request = [ConsumerGroupTopicPartitions(group)]
    answer = admin.list_consumer_group_offsets(request)[group].result()
    committed = {(p.topic, p.partition): p.offset for p in answer.topic_partitions}
    probe = Consumer({**settings.kafka_config(), "group.id": group})
    try:
        metadata = probe.list_topics(timeout=10)
        behind: dict[tuple[str, int], int] = {}
        for topic in catalog().topics() if topics is None else topics:
            for number in metadata.topics[topic].partitions:
                low, high = probe.get_watermark_offsets(TopicPartition(topic, number), 10)
                done = max(committed.get((topic, number), low), low)
                if high > done:
                    behind[(topic, number)] = high - done
        return behind
    finally:
        probe.close()


def group_members(settings: Settings, group: str = GROUP) -> dict[str, int]:
    """client id -> partitions assigned, for the members of a stable group ({} otherwise)."""
    admin = AdminClient(settings.kafka_config())
    description = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
    if description.state != ConsumerGroupState.STABLE:
        return {}
    return {
        member.client_id: len(member.assignment.topic_partitions) for member in description.members
    }


@dataclass
class AnalyticsService(AgentService):
    group: str = GROUP
    client_id: str = field(default_factory=lambda: f"{GROUP}-{uuid.uuid4().hex[:8]}")

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "agents.analytics"),
            *("--group", self.group, "--client-id", self.client_id),
            *("--live-file", str(self.heartbeat_file)),
        ]

    def is_ready(self) -> bool:
        """Ready once this process holds partitions in the stable group."""
        return group_members(self.settings, self.group).get(self.client_id, 0) > 0


def service(settings: Settings, group: str = GROUP) -> AnalyticsService:
    return AnalyticsService(
        name="analytics", workdir=settings.data_dir / "analytics", settings=settings, group=group
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.analytics", description=__doc__)
    parser.add_argument("--group", default=GROUP, help=f"consumer group (default {GROUP})")
    parser.add_argument("--client-id", help="Kafka client id (readiness checks look for it)")
    parser.add_argument("--live-file", type=Path, help="touched every second while working")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    if (refused := settings.deployment_error("analytics")) is not None:
        sys.exit(refused)
    try:
        sink = AnalyticsSink(
            settings, group=args.group, client_id=args.client_id, live_file=args.live_file
        )
    except (ClickHouseError, OSError) as error:
        print(
            f"analytics: ClickHouse at {settings.clickhouse} failed: {error} (is it running?"
            " LIVEFOLD_CLICKHOUSE_URL / LIVEFOLD_CLICKHOUSE_PORT)",
            file=sys.stderr,
        )
        return 1
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sink.stop.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: sink.stop.set())
    sink.run()
    log.info(
        "analytics: stopped after inserting %d rows (skipped %d stored, %d repeated events)",
        sink.inserted,
        sink.table.skipped_stored,
        sink.table.skipped_duplicates,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
