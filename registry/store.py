"""The registry's store: its state (`registry/state.py`) kept up to date by following the
`_schemas` topic, and the commands that append to it.

Several registries may share the topic: each follows it for as long as it runs (reads are
answered from its own fold), and one of them, elected through Kafka (`registry/election.py`),
writes; the others forward writes to it. A write is produced (acks=all, idempotent), confirmed
by its delivery report, and answered only once this registry has read it back from the topic
and its fold shows the write took effect, so an answer is never lost by a restart and every
registry agrees with it. Two leaders writing at once (for the moment an old leader takes to
notice it was replaced) are harmless: the fold keeps the first claim of an id or a version, and
the later writer sees it lost and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from registry.compatibility import AvroSchema, Level, problems
from registry.election import Election
from registry.state import (
    TOPIC,
    Record,
    RegistryError,
    State,
    Version,
    config_record,
    max_id_record,
    no_subject_level,
    purge_record,
    schema_record,
    subject_not_found,
)
from streams.consumer import Positions, TopicFollower, retried

log = logging.getLogger("registry.store")


class StoreUnavailable(RegistryError):
    def __init__(self, message: str):
        super().__init__(500, 50001, f"Error in the backend data store (Kafka): {message}")


class NotLeader(RegistryError):
    """This registry does not write: the request goes to the leader (`registry/app.py`)."""

    def __init__(self) -> None:
        super().__init__(500, 50004, "Unknown leader: no registry of the group leads right now")


class WriteLost(Exception):
    """Another registry's record for the same id or version came first; try again."""


class KafkaLog:
    """The `_schemas` topic: follow it, append to it and wait for the broker's word."""

    def __init__(
        self, connection: Mapping[str, Any], topic: str = TOPIC, replication_factor: int = 1
    ):
        """`connection`: the brokers and how to log in (`Settings.kafka_config()`)."""
        self.connection, self.topic = dict(connection), topic
        self.replication_factor = replication_factor
        self._producer: Producer | None = None
        self._follower: TopicFollower | None = None

    def ensure_topic(self, timeout: float) -> None:
        admin = AdminClient(self.connection)
        metadata = admin.list_topics(timeout=timeout)
        if self.topic in metadata.topics:
            return
        new = NewTopic(
            self.topic,
            num_partitions=1,
            replication_factor=self.replication_factor,
            # With replicas, an acks=all write survives losing one of them.
            config={
                "cleanup.policy": "compact",
                "min.insync.replicas": str(max(1, self.replication_factor - 1)),
            },
        )
        try:
            admin.create_topics([new], operation_timeout=timeout)[self.topic].result(timeout)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def follow(self, deliver: Deliver, timeout: float) -> int:
        """Start reading the topic from its beginning, for good; returns its end offset now."""
        retried(lambda: self.ensure_topic(timeout), timeout)
        self._follower = TopicFollower(self.connection, [self.topic], deliver, "livefold-registry")
        return self._follower.start(timeout)[(self.topic, 0)]

    def end_offset(self, timeout: float) -> int:
        assert self._follower is not None, "follow() first"
        return self._follower.end_offsets(timeout)[(self.topic, 0)]

    def producer(self, timeout: float) -> Producer:
        """Made before the first write too: an idempotent producer's set-up takes a moment."""
        if self._producer is None:
            self._producer = Producer(
                {
                    **self.connection,
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    "delivery.timeout.ms": int(timeout * 1000),
                }
            )
        return self._producer

    def append(self, records: Iterable[Record], timeout: float) -> int:
        """Returns the offset after the last record written."""
        producer = self.producer(timeout)
        failures: list[str] = []
        offsets: list[int] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(error.str())
            else:
                offsets.append(message.offset() or 0)

        for key, value in records:
            producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
        left = producer.flush(timeout + 5)
        if failures or left:
            self._producer = None  # an idempotent producer may be unusable after a failure
            raise StoreUnavailable(f"write to {self.topic} failed: {failures or 'timed out'}")
        return max(offsets) + 1

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
        if self._follower is not None:
            self._follower.stop()

    def failures(self) -> list[str]:
        """What stopped working: following the topic (reads would go stale for good)."""
        failure = None if self._follower is None else self._follower.failure
        return [] if failure is None else [f"following {self.topic}: {failure!r}"]


Deliver = Callable[[list[Message], Positions], None]


class SchemaStore:
    """The state plus the commands that change it. The state changes only on the event loop,
    as the follower's batches arrive, so a read always sees it between two records. Commands
    run one at a time, on the leader only."""

    def __init__(self, log: KafkaLog, timeout: float = 30.0, election: Election | None = None):
        self.log, self.timeout, self.election = log, timeout, election
        self.state = State()
        self.ready = False  # the topic has been read to where it ended at start
        self._read_to = 0  # the next offset of `_schemas` to apply
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def leading(self) -> bool:
        return self.election is None or self.election.leading

    async def start(self) -> None:
        """Read the topic to its end, keep following it, then stand for leader."""
        self._loop = asyncio.get_running_loop()
        try:
            end = await asyncio.to_thread(self.log.follow, self._deliver, self.timeout)
        except KafkaException as error:
            raise StoreUnavailable(f"cannot read {TOPIC}: {error}") from error
        await self._reached(end)
        await asyncio.to_thread(self.log.producer, self.timeout)
        self.ready = True
        log.info("read %s to offset %d: %d subjects", TOPIC, end, len(self.state.subjects))
        if self.election is not None:
            self.election.start()

    def close(self) -> None:
        if self.election is not None:
            self.election.stop()
        self.log.close()

    async def sync(self) -> None:
        """Return once everything appended to the topic until now has been applied: used before
        each write and before answering "not found"."""
        try:
            end = await asyncio.to_thread(self.log.end_offset, self.timeout)
        except KafkaException as error:
            raise StoreUnavailable(f"cannot read the end of {TOPIC}: {error}") from error
        await self._reached(end)

    def _deliver(self, messages: list[Message], positions: Positions) -> None:
        # On the follower's thread: the state itself is only touched on the loop.
        records = [(message.key(), message.value()) for message in messages]
        position = positions.get((self.log.topic, 0), self._read_to)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._apply, records, position)

    def _apply(self, records: list[Record | tuple[bytes | None, bytes | None]], to: int) -> None:
        for key, value in records:
            self.state.apply(key, value)
        self._read_to = max(self._read_to, to)
        still = []
        for offset, future in self._waiting:
            if offset <= self._read_to:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((offset, future))
        self._waiting = still

    async def _reached(self, offset: int) -> None:
        if offset <= self._read_to:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((offset, future))
        try:
            await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise StoreUnavailable(
                f"{TOPIC} was not read to offset {offset} within {self.timeout}s"
            ) from None

    async def _write(self, records: list[Record]) -> None:
        try:
            end = await asyncio.to_thread(self.log.append, records, self.timeout)
        except (KafkaException, BufferError) as error:
            raise StoreUnavailable(str(error)) from error
        await self._reached(end)  # answered once this registry's own fold shows it

    @contextlib.asynccontextmanager
    async def _command(self) -> AsyncIterator[State]:
        async with self._lock:
            if not self.leading:
                raise NotLeader()
            await self.sync()  # a new leader first reads what the previous one wrote
            yield self.state

    async def register(self, subject: str, schema: AvroSchema) -> Version:
        for _ in range(3):
            try:
                return await self._register(subject, schema)
            except WriteLost:
                continue
        raise StoreUnavailable("another registry kept writing the same ids; try again")

    async def _register(self, subject: str, schema: AvroSchema) -> Version:
        async with self._command() as state:
            existing = state.find(subject, schema)
            if existing is not None:
                return existing
            live = state.live(subject)
            found = problems(schema, [(v.version, v.schema) for v in live], state.level(subject))
            if found:
                raise RegistryError(
                    409,
                    409,
                    f"Schema being registered is incompatible with an earlier schema for subject "
                    f"'{subject}', details: [{', '.join(found)}]",
                )
            every = state.live(subject, deleted=True)
            version = Version(
                subject,
                (every[-1].version if every else 0) + 1,
                state.ids.get(schema.identity, state.max_id + 1),
                schema,
            )
            await self._write([schema_record(version)])
            held = state.subjects.get(subject, {}).get(version.version)
            if held is not None and held.id == version.id:
                return version
            if held is not None:
                # Our record came second under the same key: compaction would keep ours, so
                # the winner is written again to stay the last one.
                await self._write([schema_record(held)])
            raise WriteLost()

    async def delete_version(self, subject: str, spec: int | str, permanent: bool) -> int:
        async with self._command() as state:
            version = state.version(subject, spec, deleted=permanent or spec != "latest")
            if permanent and not version.deleted:
                raise RegistryError(
                    404,
                    40407,
                    f"Subject '{subject}' Version {version.version} was not deleted first "
                    "before being permanently deleted",
                )
            if permanent:
                await self._write([max_id_record(state.max_id), purge_record(version)])
                return version.version
            if version.deleted:
                raise RegistryError(
                    404, 40406, f"Subject '{subject}' Version {version.version} was soft deleted."
                )
            await self._write([schema_record(_deleted(version))])
            return version.version

    async def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        async with self._command() as state:
            versions = state.live(subject)
            every = state.live(subject, deleted=True)
            if permanent and versions:
                raise RegistryError(
                    404,
                    40405,
                    f"Subject '{subject}' was not deleted first before being permanently deleted",
                )
            if permanent and every:
                purges = [purge_record(version) for version in every]
                await self._write([max_id_record(state.max_id), *purges])
                return [version.version for version in every]
            if not versions and every:
                raise RegistryError(404, 40404, f"Subject '{subject}' was soft deleted.")
            if not versions:
                raise subject_not_found(subject)
            await self._write([schema_record(_deleted(version)) for version in versions])
            return [version.version for version in versions]

    async def set_level(self, subject: str | None, level: Level) -> None:
        async with self._command():
            await self._write([config_record(subject, level)])

    async def delete_level(self, subject: str | None) -> Level:
        async with self._command() as state:
            if subject is not None and subject not in state.levels:
                raise no_subject_level(subject)
            old = state.level(subject)
            await self._write([config_record(subject, None)])
            return old


def _deleted(version: Version) -> Version:
    return Version(version.subject, version.version, version.id, version.schema, deleted=True)
