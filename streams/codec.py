"""The one codec for livefold events, used by producer, consumer, Faust agents, gateway and CLI.

Wire format (Confluent's): byte 0x00, the writer schema's registry id as 4 bytes big-endian, then
the record as schemaless Avro. Subjects follow TopicRecordNameStrategy, `<topic>-<fullname>`, so
one topic carries many record types and confluent-kafka's serializers agree with us.

User-written text others read (`SEALED_FIELDS`: a chat message, a tip's message, a clip's
title) goes into the record sealed with its author's data key when the codec has a `sealer`
(the gateway's, which knows the authors' accounts: gateway/texts.py), so that destroying the
key erases it in every copy (`livefold.data_keys`). Decoding leaves it sealed: whoever shows
it opens it.

Logical types are left out of the schemas the codec reads and writes with (the registered text
keeps them): bodies stay in Avro's underlying types, epoch-millisecond ints and UUID strings,
which is what `streams.events` promises and is cheaper than datetime/UUID objects.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro
import httpx2
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError

from livefold.settings import Settings
from streams.catalog import Catalog, EventType, catalog
from streams.events import ENVELOPE_FIELDS, Event
from streams.validation import EventValidationError, FieldError, Validator

__all__ = ["Codec", "DecodeError", "EventValidationError", "SchemaRegistrationError"]

MAGIC = 0
HEADER_SIZE = 5
REGISTRY_RETRIABLE = frozenset({401, 403, 408, 429})  # and every 5xx

# event type -> its field of user-written text that others read, sealed with the author's key
SEALED_FIELDS = {
    "livefold.chat.MessageSent": "text",
    "livefold.tips.TipIntentCreated": "message",
    "livefold.media.ClipCreated": "title",
}


class Sealer(Protocol):
    def seal(self, author: str, text: str) -> str:
        """`text` sealed with the author's data key (as it is if the author has none)."""
        ...


class DecodeError(ValueError):
    """The bytes are not a livefold event this codec can read. `retriable` is True only when the
    registry could not be reached or failed (5xx, refused credentials): the record may be fine,
    so wait and try again. Otherwise the record is poison: dead-letter it and go on."""

    def __init__(self, reason: str, *, retriable: bool = False):
        self.reason = reason
        self.retriable = retriable
        super().__init__(reason)


class SchemaRegistrationError(RuntimeError):
    """The registry refused or could not be asked for a schema's id; nothing was produced."""


def subject_name(topic: str, fullname: str) -> str:
    """TopicRecordNameStrategy, as confluent-kafka's `topic_record_subject_name_strategy`."""
    return f"{topic}-{fullname}"


def without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {key: without_logical_types(v) for key, v in schema.items() if key != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(item) for item in schema]
    return schema


def wire_schema(definition: dict[str, Any]) -> dict[str, Any]:
    parsed = fastavro.parse_schema(without_logical_types(definition))
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise ValueError("not a record schema")
    return parsed


@dataclass(frozen=True)
class _Writer:
    event_type: EventType
    schema: dict[str, Any]
    header: bytes  # magic byte + schema id


@dataclass(frozen=True)
class _Reader:
    fullname: str
    writer: dict[str, Any]
    reader: dict[str, Any] | None  # None when the writer schema is livefold's current one


class Codec:
    def __init__(
        self,
        registry: SchemaRegistryClient,
        *,
        event_catalog: Catalog | None = None,
        reaction_kinds: Collection[str] | None = None,
        sealer: Sealer | None = None,
    ):
        self.registry = registry
        self.sealer = sealer
        self.catalog = event_catalog or catalog()
        kinds = Settings().reaction_kinds if reaction_kinds is None else reaction_kinds
        self.validator = Validator(kinds)
        self._wire = {t.fullname: wire_schema(t.definition) for t in self.catalog}
        self._canonical = {
            name: fastavro.schema.to_parsing_canonical_form(schema)
            for name, schema in self._wire.items()
        }
        self._writers: dict[str, _Writer] = {}
        self._readers: dict[int, _Reader] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Codec:
        registry = SchemaRegistryClient(settings.registry_config())
        return cls(registry, reaction_kinds=settings.reaction_kinds)

    # ------------------------------------------------------------ encoding

    def event_type(self, event: Event) -> EventType:
        found = self.catalog.get(event.type)
        if found is None:
            reason = f"unknown event type {event.type!r} (no schema in schemas/)"
            raise EventValidationError(event.type, [FieldError("type", reason)])
        return found

    def topic_of(self, event: Event) -> str:
        return self.event_type(event).topic

    def subject_of(self, event_type: EventType) -> str:
        return subject_name(event_type.topic, event_type.fullname)

    def validate(self, event: Event) -> None:
        event_type = self.event_type(event)
        self.validator.validate(event_type.fullname, event.body, self._wire[event_type.fullname])

    def encode(self, event: Event) -> bytes:
        self.validate(event)
        writer = self._writers.get(event.type) or self._register(self.catalog[event.type])
        body = event.body
        field = SEALED_FIELDS.get(event.type)
        if field is not None and self.sealer is not None and isinstance(body.get(field), str):
            body = {**body, field: self.sealer.seal(event.actor_id, body[field])}
        out = io.BytesIO()
        out.write(writer.header)
        fastavro.schemaless_writer(out, writer.schema, body)
        return out.getvalue()

    def register_all(self) -> dict[str, int]:
        """Register every schema (start-up); returns subject -> schema id."""
        return {
            self.subject_of(event_type): self.schema_id(event_type) for event_type in self.catalog
        }

    def schema_id(self, event_type: EventType) -> int:
        writer = self._writers.get(event_type.fullname) or self._register(event_type)
        return int.from_bytes(writer.header[1:], "big")

    def _register(self, event_type: EventType) -> _Writer:
        schema_id = self.register(self.subject_of(event_type), event_type.schema_str)
        header = bytes([MAGIC]) + schema_id.to_bytes(4, "big")
        writer = _Writer(event_type, self._wire[event_type.fullname], header)
        self._writers[event_type.fullname] = writer
        return writer

    def register(self, subject: str, schema_str: str) -> int:
        """The id of an Avro schema under `subject`, registered if need be."""
        schema = Schema(schema_str, "AVRO")
        try:
            # Registering a schema the subject already has returns its id and creates nothing.
            schema_id = self.registry.register_schema(subject, schema)
        except SchemaRegistryError as error:
            if error.http_status_code not in (401, 403):
                raise SchemaRegistrationError(
                    f"schema registry refused {subject}: {error}"
                ) from error
            schema_id = self._look_up(subject, schema)  # credentials that may read, not write
        except Exception as error:  # network errors of the client's HTTP library
            raise SchemaRegistrationError(
                f"schema registry unreachable while registering {subject}: {error!r} "
                f"(is it running? set LIVEFOLD_REGISTRY_URL or LIVEFOLD_REGISTRY_PORT)"
            ) from error
        return schema_id

    def _look_up(self, subject: str, schema: Schema) -> int:
        try:
            schema_id = self.registry.lookup_schema(subject, schema).schema_id
        except SchemaRegistryError as error:
            raise SchemaRegistrationError(
                f"{subject} is not registered and these registry credentials may not register "
                f"it: {error}"
            ) from error
        if schema_id is None:
            raise SchemaRegistrationError(f"the registry found {subject} but gave no schema id")
        return schema_id

    # ------------------------------------------------------------ decoding

    def decode(self, data: bytes) -> Event:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        if len(data) < HEADER_SIZE:
            raise DecodeError(f"truncated: {len(data)} bytes, a record needs at least 5")
        if data[0] != MAGIC:
            raise DecodeError(f"wrong magic byte {data[0]:#04x}, expected 0x00 (Confluent format)")
        schema_id = int.from_bytes(data[1:HEADER_SIZE], "big")
        reader = self._readers.get(schema_id) or self._reader_for(schema_id)
        body_stream = io.BytesIO(data)
        body_stream.seek(HEADER_SIZE)
        try:
            body = fastavro.schemaless_reader(body_stream, reader.writer, reader.reader)
        except Exception as error:  # fastavro reports bad bytes with many exception types
            raise DecodeError(
                f"garbled or truncated {reader.fullname} body (schema id {schema_id}): {error!r}"
            ) from error
        if not isinstance(body, dict):
            raise DecodeError(f"{reader.fullname} body is not a record")
        if body_stream.tell() != len(data):
            raise DecodeError(
                f"{len(data) - body_stream.tell()} trailing bytes after the {reader.fullname} body"
            )
        return Event(reader.fullname, body)

    def _reader_for(self, schema_id: int) -> _Reader:
        try:
            registered = self.registry.get_schema(schema_id)
        except SchemaRegistryError as error:
            # The registry failing, or refusing these credentials, says nothing of the record:
            # wait. Any other refusal (unknown or invalid id) is the record's.
            failing = error.http_status_code in REGISTRY_RETRIABLE or error.http_status_code >= 500
            if not failing:
                raise DecodeError(f"unknown schema id {schema_id}: {error}") from error
            raise DecodeError(
                f"registry failed for schema id {schema_id}: {error}", retriable=True
            ) from error
        except (httpx2.TransportError, OSError) as error:  # the client's HTTP library: unreachable
            raise DecodeError(
                f"registry unreachable for schema id {schema_id}: {error!r}", retriable=True
            ) from error
        except Exception as error:  # an answer the client could not read as a schema
            raise DecodeError(
                f"the registry's answer for schema id {schema_id} is not a schema: {error!r}"
            ) from error
        if registered.schema_type not in (None, "AVRO"):
            raise DecodeError(f"schema id {schema_id} is {registered.schema_type}, not Avro")
        try:
            writer = wire_schema(json.loads(registered.schema_str or ""))
        except Exception as error:
            raise DecodeError(
                f"schema id {schema_id} is not a usable Avro schema: {error}"
            ) from error
        names = {field["name"] for field in writer["fields"]}
        if missing := [name for name in ENVELOPE_FIELDS[:4] if name not in names]:
            raise DecodeError(f"schema id {schema_id} is not a livefold event: no {missing}")
        fullname = writer["name"]
        reader = self._wire.get(fullname)
        same = reader is None or self._canonical[fullname] == (
            fastavro.schema.to_parsing_canonical_form(writer)
        )
        cached = _Reader(fullname, writer, None if same else reader)
        self._readers[schema_id] = cached
        return cached
