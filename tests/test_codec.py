"""The wire codec against livefold's schema registry over HTTP, and against confluent-kafka's own
Avro serializers."""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    topic_record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from infra.service import free_port
from livefold.settings import Settings
from streams.catalog import SCHEMAS_DIR, Catalog, EventType, catalog
from streams.codec import Codec, DecodeError, SchemaRegistrationError
from streams.events import Event, from_millis
from streams.validation import EventValidationError
from tests.examples import EXAMPLES, example

SENT = "livefold.chat.MessageSent"


@pytest.fixture(scope="module")
def registry(stack: Settings) -> SchemaRegistryClient:
    return SchemaRegistryClient(stack.registry_config())


@pytest.fixture(scope="module")
def codec(registry: SchemaRegistryClient) -> Codec:
    return Codec(registry)


def fresh(registry: SchemaRegistryClient) -> SchemaRegistryClient:
    """A client with empty caches on the same registry: its answers come from the server."""
    config: dict[str, Any] = registry.config()  # type: ignore[no-untyped-call]
    return SchemaRegistryClient(config)


def nowhere() -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": f"http://127.0.0.1:{free_port()}", "max.retries": 0})


def frame(schema_id: int, body: bytes = b"") -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def refusal(codec: Codec, event: Event) -> EventValidationError:
    with pytest.raises(EventValidationError) as caught:
        codec.encode(event)
    return caught.value


def undecodable(codec: Codec, data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    return caught.value


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_event_type_survives_encode_and_decode(codec: Codec, event_type: str) -> None:
    event = example(event_type)
    decoded = codec.decode(codec.encode(event))
    assert decoded == event
    assert decoded.occurred_at == event.occurred_at and decoded.event_id == event.event_id


def test_a_record_is_the_magic_byte_the_registry_id_and_the_avro_body(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    event_type = catalog()[SENT]
    data = codec.encode(example(SENT))
    subject = f"livefold.chat.v1-{SENT}"
    registered = fresh(registry).lookup_schema(subject, Schema(event_type.schema_str, "AVRO"))
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == registered.schema_id
    assert codec.topic_of(example(SENT)) == "livefold.chat.v1"


def test_omitted_optional_fields_come_back_as_their_defaults(codec: Codec) -> None:
    event = example(SENT)
    del event.body["reply_to"], event.body["emotes"], event.body["trace_id"]
    decoded = codec.decode(codec.encode(event))
    assert decoded.body == {**event.body, "reply_to": None, "emotes": [], "trace_id": None}


def test_register_all_registers_every_schema_under_its_subject(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    ids = codec.register_all()
    assert set(ids) == {f"{t.topic}-{t.fullname}" for t in catalog()}
    subjects = set(fresh(registry).get_subjects())
    assert set(ids) <= subjects
    for event_type in catalog():
        data = codec.encode(example(event_type.fullname))
        assert int.from_bytes(data[1:5], "big") == ids[f"{event_type.topic}-{event_type.fullname}"]
    assert Codec(fresh(registry)).register_all() == ids  # registering again changes nothing


# ---------------------------------------------------------------- interoperability


def confluent_serializer(registry: SchemaRegistryClient, event_type: EventType) -> AvroSerializer:
    config = {"subject.name.strategy": topic_record_subject_name_strategy}
    serializer: AvroSerializer = AvroSerializer(fresh(registry), event_type.schema_str, conf=config)
    return serializer


def test_records_written_by_confluents_serializer_are_read_by_the_codec(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    for name in (SENT, "livefold.polls.PollCreated", "livefold.accounts.ProfileChanged"):
        event_type, event = catalog()[name], example(name)
        serialize = confluent_serializer(registry, event_type)
        data = serialize(event.body, SerializationContext(event_type.topic, MessageField.VALUE))
        assert data is not None and data[:5] == codec.encode(event)[:5]  # same subject, same id
        assert codec.decode(data) == event


def test_records_written_by_the_codec_are_read_by_confluents_deserializer(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    event = example(SENT)
    deserialize = AvroDeserializer(fresh(registry))
    read: Any = deserialize(
        codec.encode(event), SerializationContext("livefold.chat.v1", MessageField.VALUE)
    )
    # confluent's deserializer applies the logical types livefold's bodies keep as plain values
    assert read["event_id"] == uuid.UUID(event.event_id)
    assert read["occurred_at"] == from_millis(event.body["occurred_at"])
    plain = {k: v for k, v in read.items() if k not in ("event_id", "occurred_at")}
    assert plain == {k: v for k, v in event.body.items() if k not in ("event_id", "occurred_at")}


# ---------------------------------------------------------------- validation


def test_a_wrong_type_is_refused_with_the_field_path_before_any_registry_call() -> None:
    codec = Codec(nowhere())
    error = refusal(codec, example(SENT, text=42))
    assert str(error) == f"{SENT}: text: expected string, got int 42"
    emotes = [{"name": "Kappa", "positions": [{"start": 0, "end": "3"}]}]
    error = refusal(codec, example(SENT, emotes=emotes))
    assert [str(e) for e in error.errors] == [
        "emotes[0].positions[0].end: expected int, got str '3'"
    ]
    error = refusal(codec, example("livefold.moderation.VerdictIssued", verdict="maybe"))
    assert str(error.errors[0]) == "verdict: must be one of allow, hold, block; got str 'maybe'"


def test_missing_unknown_and_out_of_range_fields_are_named() -> None:
    codec = Codec(nowhere())
    event = example(SENT, colour="red")
    del event.body["text"]
    reasons = {str(error) for error in refusal(codec, event).errors}
    assert reasons == {
        "colour: not a field of livefold.chat.MessageSent",
        "text: required field is missing",
    }
    error = refusal(codec, example("livefold.reactions.ReactionSent", count=2**31))
    assert str(error.errors[0]).startswith("count: expected int, got int")


@pytest.mark.parametrize(
    ("event_type", "changes", "expected"),
    [
        ("livefold.polls.PollCreated", {"options": [{"option_id": "a", "text": "A"}]},
         "options: must have 2..10 items"),
        ("livefold.polls.PollCreated", {"options": [{"option_id": "a", "text": "A"}] * 2},
         "options: option_id must be unique"),
        ("livefold.polls.VoteCast", {"option_ids": []}, "option_ids: must have 1..10 items"),
        ("livefold.quiz.QuizQuestionPosed", {"correct_option": "z"},
         "correct_option: 'z' is not the option_id of an option"),
        ("livefold.tips.TipIntentCreated", {"currency": "eur"},
         "currency: must be an ISO-4217 code of three capital letters like 'EUR', got 'eur'"),
        ("livefold.tips.TipIntentCreated", {"amount_minor": 0},
         "amount_minor: must be between 1 and 9007199254740992"),
        ("livefold.tips.TipCaptured", {"idempotency_key": ""},
         "idempotency_key: must be 1..128 characters long"),
        (SENT, {"text": "x" * 501}, "text: must be 1..500 characters long"),
        ("livefold.media.ClipCreated", {"end_offset_ms": 3_600_000},
         "end_offset_ms: must be after start_offset_ms, at most 5 minutes"),
    ],
)  # fmt: skip
def test_domain_rules_refuse_with_field_level_reasons(
    event_type: str, changes: dict[str, Any], expected: str
) -> None:
    error = refusal(Codec(nowhere()), example(event_type, **changes))
    assert [str(e) for e in error.errors] == [expected]


def test_the_envelope_must_hold_a_uuid_and_ids_and_the_type_must_exist() -> None:
    codec = Codec(nowhere())
    event = example(SENT)
    event.body.update(event_id="not-a-uuid", stream_id="")
    assert {str(e) for e in refusal(codec, event).errors} == {
        "event_id: must be a UUID, got 'not-a-uuid'",
        "stream_id: must be 1..200 characters long",
    }
    error = refusal(codec, Event("livefold.chat.Shouted", example(SENT).body))
    assert "unknown event type 'livefold.chat.Shouted'" in str(error)


def test_the_reaction_kinds_are_configurable() -> None:
    hearts_only = Codec(nowhere(), reaction_kinds=("heart",))
    error = refusal(hearts_only, example("livefold.reactions.ReactionSent", kind="fire"))
    assert str(error.errors[0]) == "kind: unknown reaction kind 'fire'; known: heart"
    hearts_only.validate(example("livefold.reactions.ReactionSent", kind="heart"))
    settings = Settings(reaction_kinds=("fire", "rocket"))
    Codec.from_settings(settings).validate(
        example("livefold.reactions.ReactionSent", kind="rocket")
    )


# ---------------------------------------------------------------- bad input


def test_bad_bytes_raise_decode_errors_that_say_why(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    good = codec.encode(example(SENT))
    schema_id = int.from_bytes(good[1:5], "big")
    cases = {
        b"": "truncated: 0 bytes",
        b"\x00\x00\x01": "truncated: 3 bytes",
        b"\x01" + good[1:]: "wrong magic byte 0x01",
        b"{" + good[1:]: "wrong magic byte 0x7b",
        frame(2**31 - 7, good[5:]): f"unknown schema id {2**31 - 7}",
        good[:-6]: f"garbled or truncated {SENT} body",
        frame(schema_id, b"\x02" + b"\xff" * 40): f"garbled or truncated {SENT} body",
        good + b"\x00\x07": f"2 trailing bytes after the {SENT} body",
    }
    for data, reason in cases.items():
        assert undecodable(codec, data).reason.startswith(reason), data
    text: Any = "\x00\x00\x00\x00\x01 a str, not bytes"
    assert undecodable(codec, text).reason == "expected bytes, got str"


def test_an_id_of_a_schema_that_is_no_livefold_event_is_refused(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    not_an_event = {"type": "record", "name": "Sensor", "fields": [{"name": "t", "type": "double"}]}
    subject = f"test-{uuid.uuid4().hex[:8]}-value"
    record_id = registry.register_schema(subject, Schema(json.dumps(not_an_event), "AVRO"))
    assert "is not a livefold event" in undecodable(codec, frame(record_id, b"\x00" * 8)).reason
    string_id = registry.register_schema(f"{subject}-s", Schema('"string"', "AVRO"))
    assert "not a usable Avro schema" in undecodable(codec, frame(string_id, b"\x02a")).reason


def test_mutated_records_decode_or_raise_decode_error_and_nothing_else(codec: Codec) -> None:
    rnd = random.Random(20260501)
    for event_type in EXAMPLES:
        good = codec.encode(example(event_type))
        for _ in range(60):
            data = bytearray(good)
            for _ in range(rnd.randint(1, 4)):
                data[rnd.randrange(5, len(data))] = rnd.randrange(256)
            data = data[: rnd.randrange(5, len(data) + 1)]
            with contextlib.suppress(DecodeError):
                assert codec.decode(bytes(data)).type == event_type


def test_an_unreachable_registry_fails_clearly_and_decoding_may_retry(codec: Codec) -> None:
    offline = Codec(nowhere())
    with pytest.raises(SchemaRegistrationError, match="LIVEFOLD_REGISTRY_URL"):
        offline.encode(example(SENT))
    error = undecodable(offline, codec.encode(example(SENT)))
    assert error.retriable and "registry unreachable" in error.reason
    assert not undecodable(codec, b"\x05" * 10).retriable


# ---------------------------------------------------------------- schema evolution


def evolved_catalogs(tmp_path: Path, *added_fields: dict[str, Any]) -> tuple[Catalog, Catalog]:
    """Old and new versions of a copy of chat.MessageSent in a domain of its own, so that its new
    version does not change the shared registry's livefold subjects."""
    domain = f"evolution{uuid.uuid4().hex[:8]}"
    schema = json.loads((SCHEMAS_DIR / "chat" / "message_sent.avsc").read_text())
    schema["namespace"] = f"livefold.{domain}"
    catalogs = []
    for version, fields in (("old", []), ("new", list(added_fields))):
        (tmp_path / version / domain).mkdir(parents=True)
        versioned = {**schema, "fields": schema["fields"] + fields}
        (tmp_path / version / domain / "message_sent.avsc").write_text(json.dumps(versioned))
        catalogs.append(Catalog.load(tmp_path / version))
    return catalogs[0], catalogs[1]


LANGUAGE = {"name": "language", "type": ["null", "string"], "default": None, "doc": "BCP-47."}


def test_old_records_read_with_the_new_schema_and_new_records_with_old_code(
    registry: SchemaRegistryClient, tmp_path: Path
) -> None:
    old_catalog, new_catalog = evolved_catalogs(tmp_path, LANGUAGE)
    fullname = next(iter(old_catalog)).fullname
    old, new = (
        Codec(fresh(registry), event_catalog=old_catalog),
        Codec(fresh(registry), event_catalog=new_catalog),
    )
    body = example(SENT).body

    old_record = old.encode(Event(fullname, dict(body)))
    assert new.decode(old_record) == Event(fullname, {**body, "language": None})

    new_record = new.encode(Event(fullname, {**body, "language": "de"}))
    assert new_record[1:5] != old_record[1:5]  # a second version under the same subject
    assert old.decode(new_record) == Event(fullname, body)
    assert new.decode(new_record).body["language"] == "de"


def test_an_incompatible_change_is_refused_by_the_registry(
    registry: SchemaRegistryClient, tmp_path: Path
) -> None:
    required = {"name": "language", "type": "string", "doc": "Now required: breaks old records."}
    old_catalog, new_catalog = evolved_catalogs(tmp_path, required)
    fullname = next(iter(old_catalog)).fullname
    Codec(fresh(registry), event_catalog=old_catalog).encode(Event(fullname, example(SENT).body))
    new = Codec(fresh(registry), event_catalog=new_catalog)
    with pytest.raises(SchemaRegistrationError, match="schema registry refused"):
        new.encode(Event(fullname, {**example(SENT).body, "language": "de"}))
