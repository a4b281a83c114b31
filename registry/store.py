"""The registry's state: a fold of the records on the compacted Kafka topic `_schemas`.

Records look like Confluent's: the key names what a record is about and the newest record per
key wins, which is what compaction keeps.

- key ``{"keytype":"SCHEMA","subject":s,"version":v,"magic":1}``, value
  ``{"subject":s,"version":v,"id":i,"schema":text,"deleted":bool}`` (a soft delete rewrites it);
- key ``{"keytype":"CONFIG","subject":s|null,"magic":0}``, value
  ``{"compatibilityLevel":level}``, or no value once that configuration is deleted.

Single writer: one registry process owns the topic. It reads the topic to its end before serving
and afterwards trusts its own state, so two registries writing at once could hand out one id twice.
Every write is produced (acks=all, idempotent) and confirmed by its delivery report before it is
applied, so an answer given to a client is never lost by a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as Partition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from registry.compatibility import AvroSchema, Level, parse, problems

log = logging.getLogger("registry.store")

TOPIC = "_schemas"
Record = tuple[bytes, bytes | None]


class RegistryError(Exception):
    """An answer the client must get, in Confluent's terms (HTTP status + error_code)."""

    def __init__(self, status: int, error_code: int, message: str):
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(subject: str, version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found for subject '{subject}'.")


def no_subject_level(subject: str) -> RegistryError:
    return RegistryError(
        404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
    )


class StoreUnavailable(RegistryError):
    def __init__(self, message: str):
        super().__init__(500, 50001, f"Error in the backend data store (Kafka): {message}")


@dataclass(frozen=True)
class Version:
    subject: str
    version: int
    id: int
    schema: AvroSchema
    deleted: bool = False


def _key(**fields: Any) -> bytes:
    # Compaction matches keys byte for byte: always the same field order and spacing.
    return json.dumps(fields, separators=(",", ":")).encode()


def schema_record(version: Version) -> Record:
    key = _key(keytype="SCHEMA", subject=version.subject, version=version.version, magic=1)
    value = {
        "subject": version.subject,
        "version": version.version,
        "id": version.id,
        "schema": version.schema.text,
        "deleted": version.deleted,
    }
    return key, json.dumps(value).encode()


def config_record(subject: str | None, level: Level | None) -> Record:
    key = _key(keytype="CONFIG", subject=subject, magic=0)
    value = None if level is None else json.dumps({"compatibilityLevel": level.value}).encode()
    return key, value


@dataclass
class State:
    """Subjects, versions, ids and configuration; changed only by `apply`."""

    subjects: dict[str, dict[int, Version]] = field(default_factory=dict)
    by_id: dict[int, AvroSchema] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # schema identity -> global id
    levels: dict[str | None, Level] = field(default_factory=dict)  # None: the global level
    max_id: int = 0

    def apply(self, key_bytes: bytes | None, value_bytes: bytes | None) -> None:
        try:
            self._apply(key_bytes, value_bytes)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Written by something else or damaged: serving the rest beats refusing to start.
            log.warning("skipping unreadable %s record %r: %s", TOPIC, key_bytes, error)

    def _apply(self, key_bytes: bytes | None, value_bytes: bytes | None) -> None:
        key = json.loads(key_bytes) if key_bytes else {}
        value = json.loads(value_bytes) if value_bytes else None
        if key.get("keytype") == "SCHEMA":
            self._apply_schema(key["subject"], int(key["version"]), value)
        elif key.get("keytype") == "CONFIG":
            subject = key.get("subject")
            if value is None:
                self.levels.pop(subject, None)
            else:
                self.levels[subject] = Level.parse(value["compatibilityLevel"])
        # Other key types (NOOP, MODE, ... from a Confluent registry) carry nothing we serve.

    def _apply_schema(self, subject: str, number: int, value: dict[str, Any] | None) -> None:
        versions = self.subjects.setdefault(subject, {})
        if value is None:  # a hard delete by another registry implementation
            versions.pop(number, None)
            return
        self.max_id = max(self.max_id, int(value["id"]))  # even if the schema is unreadable
        schema = parse(value["schema"])
        version = Version(subject, number, int(value["id"]), schema, bool(value.get("deleted")))
        versions[number] = version
        self.by_id[version.id] = schema
        self.ids.setdefault(schema.identity, version.id)

    def live(self, subject: str, deleted: bool = False) -> list[Version]:
        """The subject's versions in order; soft-deleted ones only when `deleted`."""
        versions = self.subjects.get(subject, {})
        return [versions[n] for n in sorted(versions) if deleted or not versions[n].deleted]

    def subject_names(self, deleted: bool = False) -> list[str]:
        return sorted(name for name in self.subjects if self.live(name, deleted))

    def version(self, subject: str, spec: int | str, deleted: bool = False) -> Version:
        versions = self.live(subject, deleted)
        if not versions:
            raise subject_not_found(subject)
        if spec == "latest":
            return versions[-1]
        for version in versions:
            if version.version == spec:
                return version
        raise version_not_found(subject, spec)

    def find(self, subject: str, schema: AvroSchema, deleted: bool = False) -> Version | None:
        for version in reversed(self.live(subject, deleted)):
            if version.schema.identity == schema.identity:
                return version
        return None

    def level(self, subject: str | None) -> Level:
        return self.levels.get(subject) or self.levels.get(None) or Level.BACKWARD


class KafkaLog:
    """The `_schemas` topic: read it whole, append to it and wait for the broker's word."""

    def __init__(self, bootstrap: str, topic: str = TOPIC, replication_factor: int = 1):
        self.bootstrap, self.topic, self.replication_factor = bootstrap, topic, replication_factor
        self._producer: Producer | None = None

    def ensure_topic(self, timeout: float) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
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

    def read(self, apply: Callable[[bytes | None, bytes | None], None], timeout: float) -> int:
        """Apply every record from the beginning to the current end; returns how many."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"livefold-registry-{uuid.uuid4()}",  # never joined nor committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            low, high = consumer.get_watermark_offsets(Partition(self.topic, 0), timeout=timeout)
            if high <= low:
                return 0
            consumer.assign([Partition(self.topic, 0, OFFSET_BEGINNING)])
            deadline, count = time.monotonic() + timeout, 0
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                error = None if message is None else message.error()
                if message is not None and error is None:
                    apply(message.key(), message.value())
                    count += 1
                elif error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                position = consumer.position([Partition(self.topic, 0)])[0].offset
                if position >= high:
                    return count
            raise StoreUnavailable(f"could not read {self.topic} to offset {high} in {timeout}s")
        finally:
            consumer.close()

    def producer(self, timeout: float) -> Producer:
        """Made before the first write too: an idempotent producer's set-up takes a moment."""
        if self._producer is None:
            self._producer = Producer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    "delivery.timeout.ms": int(timeout * 1000),
                }
            )
        return self._producer

    def append(self, records: Iterable[Record], timeout: float) -> None:
        producer = self.producer(timeout)
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                failures.append(error.str())

        for key, value in records:
            producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
        left = producer.flush(timeout + 5)
        if failures or left:
            self._producer = None  # an idempotent producer may be unusable after a failure
            raise StoreUnavailable(f"write to {self.topic} failed: {failures or 'timed out'}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)


class SchemaStore:
    """The state plus the commands that change it. Commands run one at a time; reads never wait
    for Kafka and only ever see a state between two applied writes."""

    def __init__(self, log: KafkaLog, timeout: float = 30.0):
        self.log, self.timeout = log, timeout
        self.state = State()
        self._stale = True
        self._lock = asyncio.Lock()

    @property
    def stale(self) -> bool:
        """True until the topic has been read, and again after a write whose outcome is unknown."""
        return self._stale

    async def load(self) -> None:
        """Fold the whole topic into a fresh state: at start, and after a failed write (its
        outcome is unknown: it may have reached the log)."""
        state = await asyncio.to_thread(self._read)
        self.state, self._stale = state, False

    def _read(self) -> State:
        deadline = time.monotonic() + self.timeout
        while True:
            state = State()
            try:
                self.log.ensure_topic(self.timeout)
                count = self.log.read(state.apply, self.timeout)
            except KafkaException as error:
                # Kafka may still be starting; a topic just created may not have a leader yet.
                if time.monotonic() > deadline:
                    raise StoreUnavailable(f"cannot read {TOPIC}: {error}") from error
                time.sleep(0.5)
                continue
            log.info("read %d records from %s: %d subjects", count, TOPIC, len(state.subjects))
            self.log.producer(self.timeout)
            return state

    async def _write(self, records: list[Record]) -> None:
        try:
            await asyncio.to_thread(self.log.append, records, self.timeout)
        except (StoreUnavailable, KafkaException, BufferError) as error:
            self._stale = True
            if isinstance(error, StoreUnavailable):
                raise
            raise StoreUnavailable(str(error)) from error
        for key, value in records:
            self.state.apply(key, value)

    @contextlib.asynccontextmanager
    async def _command(self) -> AsyncIterator[State]:
        async with self._lock:
            if self.stale:
                await self.load()
            yield self.state

    async def register(self, subject: str, schema: AvroSchema) -> Version:
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
            return version

    async def delete_version(self, subject: str, spec: int | str) -> int:
        async with self._command() as state:
            version = state.version(subject, spec, deleted=spec != "latest")
            if version.deleted:
                raise RegistryError(
                    404, 40406, f"Subject '{subject}' Version {version.version} was soft deleted."
                )
            await self._write([schema_record(_deleted(version))])
            return version.version

    async def delete_subject(self, subject: str) -> list[int]:
        async with self._command() as state:
            versions = state.live(subject)
            if not versions and state.live(subject, deleted=True):
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
