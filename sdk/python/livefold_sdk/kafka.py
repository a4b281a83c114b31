"""Reading livefold's event topics directly, for trusted back-end clients inside the platform's
network (analytics jobs, notifiers, bots): records in Confluent's wire format (a magic byte,
the writer schema's registry id, schemaless Avro), decoded with the schema fetched from the
registry by id, to the typed bodies of `livefold_sdk.events`.

    with EventConsumer("kafka:9092", "http://registry:8081", "my-notifier", ["chat"]) as events:
        for event in events.stream(timeout=1.0):
            if event.type == "livefold.chat.MessageSent":
                sent = event.body_as(MessageSent)

A production cluster takes SASL/SCRAM over TLS: pass `config=kafka_security(user, password,
ca_location="ca.pem")`.

Needs the `kafka` extra (confluent-kafka, fastavro). Offsets are committed after each record
is handed out and the next one asked for (at-least-once: a crash replays the record being
worked on; bodies carry `event_id` to dedupe on).
"""

from __future__ import annotations

import builtins
import io
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import fastavro
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError

from livefold_sdk.closing import Closing
from livefold_sdk.errors import DecodeError
from livefold_sdk.events import EVENT_TYPES, AnyEvent

T = TypeVar("T")
MAGIC, HEADER = 0, 5


def topic_of(domain: str) -> str:
    """A domain's event topic ("chat" -> "livefold.chat.v1"); full topic names pass through."""
    return domain if "." in domain else f"livefold.{domain}.v1"


def _plain(schema: Any) -> Any:
    """The schema without logical types: bodies keep epoch-ms ints and UUID strings."""
    if isinstance(schema, dict):
        return {key: _plain(value) for key, value in schema.items() if key != "logicalType"}
    if isinstance(schema, list):
        return [_plain(item) for item in schema]
    return schema


def kafka_security(
    username: str,
    password: str,
    *,
    mechanism: str = "SCRAM-SHA-512",
    ca_location: str | None = None,
    tls: bool = True,
) -> dict[str, Any]:
    """librdkafka settings to log in with SASL/SCRAM, over TLS unless `tls` is False (a local
    broker's SASL_PLAINTEXT listener); `ca_location`: the brokers' CA file (else the system's)."""
    config: dict[str, Any] = {
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": username,
        "sasl.password": password,
    }
    if ca_location is not None:
        config["ssl.ca.location"] = ca_location
    return config


class RegistryDecoder:
    """Decodes Confluent-framed Avro records with writer schemas fetched from the registry
    (cached by id). Thread-safe."""

    def __init__(self, registry_url: str, config: dict[str, Any] | None = None):
        self.registry = SchemaRegistryClient({"url": registry_url, **(config or {})})
        self._schemas: dict[int, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def schema(self, schema_id: int) -> tuple[str, Any]:
        with self._lock:
            known = self._schemas.get(schema_id)
        if known is not None:
            return known
        try:
            registered = self.registry.get_schema(schema_id)
        except SchemaRegistryError as error:
            raise DecodeError(f"the registry has no schema {schema_id}: {error}") from error
        if registered.schema_type not in (None, "AVRO"):
            raise DecodeError(f"schema {schema_id} is {registered.schema_type}, not Avro")
        definition = json.loads(registered.schema_str or "{}")
        parsed = fastavro.parse_schema(_plain(definition))
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise DecodeError(f"schema {schema_id} is not a record schema")
        known = (str(parsed["name"]), parsed)
        with self._lock:
            self._schemas[schema_id] = known
        return known

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(event type, body) of one record value."""
        if len(data) < HEADER or data[0] != MAGIC:
            raise DecodeError("not in Confluent's wire format (magic byte 0, 4-byte schema id)")
        name, schema = self.schema(int.from_bytes(data[1:HEADER], "big"))
        stream = io.BytesIO(data)
        stream.seek(HEADER)
        try:
            body = fastavro.schemaless_reader(stream, schema, None)
        except Exception as error:  # fastavro reports bad bytes with many exception types
            raise DecodeError(f"garbled {name} body: {error!r}") from error
        if not isinstance(body, dict) or stream.tell() != len(data):
            raise DecodeError(f"the {name} body does not match its schema")
        return name, body


@dataclass(frozen=True)
class ConsumedEvent:
    type: str  # e.g. "livefold.chat.MessageSent"
    body: AnyEvent
    topic: str
    partition: int
    offset: int
    key: str | None

    def body_as(self, kind: builtins.type[T]) -> T:
        """The body as one event type (TypeError if this record is another type)."""
        expected = next((name for name, known in EVENT_TYPES.items() if known is kind), None)
        if expected != self.type:
            wanted = getattr(kind, "__name__", str(kind))
            raise TypeError(f"this record is a {self.type}, not a {wanted}")
        return cast(T, self.body)


class EventConsumer(Closing):
    def __init__(
        self,
        bootstrap_servers: str,
        registry_url: str,
        group_id: str,
        domains: Iterable[str],
        *,
        from_beginning: bool = False,
        config: dict[str, Any] | None = None,
    ):
        self.decoder = RegistryDecoder(registry_url)
        self.topics = [topic_of(domain) for domain in domains]
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,  # stored once handed out: at-least-once
                **(config or {}),
            }
        )
        self.consumer.subscribe(self.topics)
        self._handed: Message | None = None

    def poll(self, timeout: float = 1.0) -> ConsumedEvent | None:
        """The next event, or None if none came within `timeout` seconds. An undecodable record
        raises DecodeError (its offset is then stored: the next poll moves past it)."""
        self._store_handed()
        message = self.consumer.poll(timeout)
        if message is None:
            return None
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF or error.retriable():
                return None
            raise KafkaException(error)
        self._handed = message
        topic, partition, offset = message.topic() or "", message.partition(), message.offset()
        value = message.value()
        if value is None:
            raise DecodeError("a tombstone (no value)", topic, partition or 0, offset or 0)
        try:
            name, body = self.decoder.decode(value)
        except DecodeError as problem:
            raise DecodeError(problem.reason, topic, partition or 0, offset or 0) from problem
        key = message.key()
        return ConsumedEvent(
            type=name,
            body=cast(AnyEvent, body),
            topic=topic,
            partition=partition or 0,
            offset=offset or 0,
            key=key.decode(errors="replace") if isinstance(key, bytes) else key,
        )

    def stream(self, timeout: float = 1.0) -> Iterator[ConsumedEvent]:
        """Events as they come, forever (stop by breaking out; call close())."""
        while True:
            event = self.poll(timeout)
            if event is not None:
                yield event

    def _store_handed(self) -> None:
        if self._handed is not None:
            message, self._handed = self._handed, None
            position = TopicPartition(
                message.topic() or "", message.partition() or 0, (message.offset() or 0) + 1
            )
            self.consumer.store_offsets(offsets=[position])

    def close(self) -> None:
        """Commit what was handed out and leave the group."""
        self._store_handed()
        self.consumer.close()
