"""livefold's schema registry, driven by confluent-kafka's own registry client and serializers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from infra import kafka, registry
from infra.service import running
from livefold.settings import Settings
from tests.servers import log_to

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


def record(name: str, *fields: dict[str, Any]) -> Schema:
    document = {"type": "record", "name": name, "namespace": "test.registry", "fields": fields}
    return Schema(json.dumps(document), "AVRO")


def text_of(schema: Schema) -> str:
    assert schema.schema_str is not None
    return schema.schema_str


TEXT = {"name": "text", "type": "string"}
LANGUAGE = {"name": "language", "type": ["null", "string"], "default": None}
REQUIRED_SCORE = {"name": "score", "type": "int"}

CHAT_V1 = record("ChatMessage", TEXT)
CHAT_V2 = record("ChatMessage", TEXT, LANGUAGE)


@pytest.fixture
def client(stack: Settings) -> SchemaRegistryClient:
    return SchemaRegistryClient(stack.registry_config())


@pytest.fixture
def subject() -> str:
    return f"test-{uuid.uuid4().hex[:10]}-value"


def uncached(client: SchemaRegistryClient) -> SchemaRegistryClient:
    """Another client on the same registry, so answers come from the server, not a cache."""
    return SchemaRegistryClient(dict(client.config()))  # type: ignore[no-untyped-call]


def refused(call: Callable[[], object]) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as caught:
        call()
    return caught.value


def test_a_registered_schema_is_found_by_lookup_id_subject_and_version(
    client: SchemaRegistryClient, subject: str
) -> None:
    schema_id = client.register_schema(subject, CHAT_V1)

    found = client.lookup_schema(subject, CHAT_V1)
    assert (found.schema_id, found.subject, found.version) == (schema_id, subject, 1)
    fresh = uncached(client)  # no cache
    assert json.loads(text_of(fresh.get_schema(schema_id))) == json.loads(text_of(CHAT_V1))
    assert subject in fresh.get_subjects()
    assert fresh.get_versions(subject) == [1]
    latest = fresh.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (schema_id, 1)
    assert fresh.get_version(subject, 1).schema_id == schema_id


def test_the_same_schema_keeps_one_id_within_a_subject_and_across_subjects(
    client: SchemaRegistryClient, subject: str
) -> None:
    schema_id = client.register_schema(subject, CHAT_V1)
    # Same schema, other key order and spacing: still the same schema.
    reordered = Schema(json.dumps(json.loads(text_of(CHAT_V1)), sort_keys=True, indent=2))
    fresh = uncached(client)
    assert fresh.register_schema(subject, reordered) == schema_id
    assert fresh.get_versions(subject) == [1]
    assert fresh.register_schema(subject + "-other", CHAT_V1) == schema_id
    usages = {(v.subject, v.version) for v in fresh.get_schema_versions(schema_id)}
    assert {(subject, 1), (subject + "-other", 1)} <= usages


def test_avro_serializer_and_deserializer_round_trip_through_the_registry(
    client: SchemaRegistryClient,
) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    context = SerializationContext(topic, MessageField.VALUE)
    serialize = AvroSerializer(client, text_of(CHAT_V2))
    message = {"text": "hello", "language": "en"}

    payload = serialize(message, context)

    assert payload[0] == 0  # Confluent wire format: magic byte, then the 4-byte schema id
    schema_id = int.from_bytes(payload[1:5], "big")
    assert client.lookup_schema(f"{topic}-value", CHAT_V2).schema_id == schema_id
    reader = uncached(client)
    assert AvroDeserializer(reader)(payload, context) == message


def test_adding_an_optional_field_with_a_default_is_backward_compatible(
    client: SchemaRegistryClient, subject: str
) -> None:
    first = client.register_schema(subject, CHAT_V1)
    second = client.register_schema(subject, CHAT_V2)
    assert second != first
    assert client.get_versions(subject) == [1, 2]
    assert client.get_latest_version(subject).schema_id == second


def test_adding_a_required_field_is_refused_with_409_by_default(
    client: SchemaRegistryClient, subject: str
) -> None:
    client.register_schema(subject, CHAT_V1)

    error = refused(
        lambda: client.register_schema(subject, record("ChatMessage", TEXT, REQUIRED_SCORE))
    )

    assert (error.http_status_code, error.error_code) == (409, 409)
    assert "score" in error.error_message and "BACKWARD" in error.error_message
    assert client.get_versions(subject) == [1]


def test_transitive_levels_check_every_earlier_version(
    client: SchemaRegistryClient, subject: str
) -> None:
    client.register_schema(subject, record("Vote", {"name": "option", "type": "int"}))
    client.register_schema(subject, record("Vote"))  # dropping a field: readable either way
    retyped = record("Vote", {"name": "option", "type": "string", "default": ""})

    client.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    error = refused(lambda: client.register_schema(subject, retyped))
    assert error.http_status_code == 409 and "oldSchemaVersion: 1" in error.error_message

    client.set_compatibility(subject, "BACKWARD")
    client.register_schema(subject, retyped)  # only the latest version counts now
    assert client.get_versions(subject) == [1, 2, 3]


def test_a_subject_level_overrides_the_global_one_until_deleted(
    client: SchemaRegistryClient, subject: str
) -> None:
    client.register_schema(subject, CHAT_V1)
    assert client.get_compatibility() == "BACKWARD"
    error = refused(lambda: client.get_compatibility(subject))
    assert (error.http_status_code, error.error_code) == (404, 40408)

    answer: object = client.set_compatibility(subject, "none")  # typed str, is the JSON body
    assert answer == {"compatibility": "NONE"}
    assert client.get_compatibility(subject) == "NONE"
    client.register_schema(subject, record("ChatMessage", TEXT, REQUIRED_SCORE))

    assert client.delete_config(subject).compatibility_level == "NONE"
    another_required = {"name": "rank", "type": "int"}
    stricter = record("ChatMessage", TEXT, REQUIRED_SCORE, another_required)
    error = refused(lambda: client.register_schema(subject, stricter))
    assert error.http_status_code == 409


def test_the_compatibility_endpoint_answers_without_registering(
    client: SchemaRegistryClient, subject: str, stack: Settings
) -> None:
    client.register_schema(subject, CHAT_V1)
    required = record("ChatMessage", TEXT, REQUIRED_SCORE)

    assert client.test_compatibility(subject, CHAT_V2) is True
    assert client.test_compatibility(subject, required, version=1) is False
    assert client.test_compatibility_all_versions(subject, required) is False
    verbose = httpx.post(
        f"{stack.registry}/compatibility/subjects/{subject}/versions/latest?verbose=true",
        json=required.to_dict(),
    )
    assert verbose.headers["content-type"] == MEDIA_TYPE
    assert verbose.json()["is_compatible"] is False
    assert any("'score'" in message for message in verbose.json()["messages"])
    assert client.get_versions(subject) == [1]


@pytest.mark.parametrize(
    ("schema", "explanation"),
    [
        (Schema('{"type": "record", "name": ', "AVRO"), "not JSON"),
        (Schema('{"type": "record", "fields": []}', "AVRO"), "Invalid Avro schema"),
        (record("Bad", {"name": "n", "type": "int", "default": "ten"}), "Default value"),
        (Schema('syntax = "proto3";', "PROTOBUF"), "AVRO only"),
    ],
)
def test_a_schema_that_is_not_valid_avro_is_refused_with_42201(
    client: SchemaRegistryClient, subject: str, schema: Schema, explanation: str
) -> None:
    error = refused(lambda: client.register_schema(subject, schema))
    assert (error.http_status_code, error.error_code) == (422, 42201)
    assert explanation in error.error_message
    assert subject not in client.get_subjects()


def test_unknown_subjects_versions_and_ids_get_confluent_error_codes(
    client: SchemaRegistryClient, subject: str, stack: Settings
) -> None:
    assert refused(lambda: client.get_versions(subject)).error_code == 40401
    assert refused(lambda: client.lookup_schema(subject, CHAT_V1)).error_code == 40401
    client.register_schema(subject, CHAT_V1)
    assert refused(lambda: client.lookup_schema(subject, CHAT_V2)).error_code == 40403
    assert refused(lambda: client.get_version(subject, 7)).error_code == 40402
    assert refused(lambda: client.get_schema(2**31 - 1)).error_code == 40403
    not_json = httpx.post(
        f"{stack.registry}/subjects/{subject}/versions", content=b"{oops", auth=writer(stack)
    )
    assert (not_json.status_code, not_json.json()["error_code"]) == (422, 42201)
    bad_version = httpx.get(f"{stack.registry}/subjects/{subject}/versions/first")
    assert (bad_version.status_code, bad_version.json()["error_code"]) == (422, 42202)
    nowhere = httpx.get(f"{stack.registry}/no/such/endpoint")
    assert (nowhere.status_code, nowhere.json()["error_code"]) == (404, 404)
    assert httpx.get(f"{stack.registry}/").json() == {}


def writer(settings: Settings) -> tuple[str, str]:
    return settings.registry_username, settings.secret("registry_password")


def test_writes_and_config_changes_need_the_writers_credentials(
    client: SchemaRegistryClient, subject: str, stack: Settings
) -> None:
    client.register_schema(subject, CHAT_V1)
    level = client.get_compatibility()
    strangers: list[dict[str, Any]] = [
        {},
        {"basic.auth.user.info": f"{stack.registry_username}:not-the-password"},
    ]
    for credentials in strangers:
        anyone = SchemaRegistryClient({"url": stack.registry, **credentials})
        writes: list[Callable[[SchemaRegistryClient], object]] = [
            lambda c: c.register_schema(subject, CHAT_V2),
            lambda c: c.register_schema(f"{subject}-new", CHAT_V1),
            lambda c: c.delete_version(subject, 1),
            lambda c: c.delete_subject(subject),
            lambda c: c.set_compatibility(level="NONE"),
            lambda c: c.set_compatibility(subject, "NONE"),
        ]
        for write in writes:
            error = refused(lambda: write(anyone))  # noqa: B023 (called at once)
            assert (error.http_status_code, error.error_code) == (401, 40101)
        # Reads stay open: consumers decode with the registry's schemas.
        assert (
            anyone.get_latest_version(subject).schema_id
            == client.lookup_schema(subject, CHAT_V1).schema_id
        )
    for path in ("/config", f"/config/{subject}"):
        changed = httpx.delete(f"{stack.registry}{path}")
        assert changed.status_code == 401
    assert uncached(client).get_versions(subject) == [1]
    assert uncached(client).get_compatibility() == level


def test_a_soft_deleted_subject_disappears_but_its_ids_stay_readable(
    client: SchemaRegistryClient, subject: str
) -> None:
    schema_id = client.register_schema(subject, CHAT_V1)
    client.register_schema(subject, CHAT_V2)

    assert client.delete_version(subject, 2) == 2
    assert client.get_versions(subject) == [1]
    assert client.delete_subject(subject) == [1]

    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    fresh = uncached(client)
    assert fresh.get_schema(schema_id).schema_str == CHAT_V1.schema_str
    assert refused(lambda: fresh.delete_subject(subject)).error_code == 40404
    # Registering again starts a new version and reuses the schema's id.
    assert fresh.register_schema(subject, CHAT_V1) == schema_id
    assert fresh.get_versions(subject) == [3]


def registry_contents(url: str) -> dict[str, Any]:
    """Everything a client can read: subjects (deleted too), versions, ids, schemas, levels."""
    client = SchemaRegistryClient({"url": url})  # no credentials: reading needs none
    contents: dict[str, Any] = {"global": client.get_compatibility(), "live": client.get_subjects()}
    for subject in client.get_subjects(deleted=True):
        versions = client.get_versions(subject, deleted=True)
        registered = [client.get_version(subject, v, deleted=True) for v in versions]
        levels = client.get_config(subject).compatibility_level if subject == "votes" else None
        contents[subject] = (
            [(r.version, r.schema_id, r.schema.schema_str) for r in registered],
            levels,
        )
    return contents


def test_ids_versions_and_levels_survive_a_registry_restart_and_a_kafka_restart(
    scratch: Settings,
) -> None:
    services = [kafka.service(scratch), registry.service(scratch)]
    logs = log_to(scratch.data_dir / "logs")
    vote = record("Vote", {"name": "option", "type": "int"})
    with running(services, output=logs) as (_, registry_process):
        client = SchemaRegistryClient(scratch.registry_config())
        client.register_schema("chat", CHAT_V1)
        client.register_schema("chat", CHAT_V2)
        client.register_schema("votes", vote)
        client.register_schema("archive", CHAT_V1)
        client.delete_subject("archive")
        client.set_compatibility(level="FULL")
        client.set_compatibility("votes", "NONE")
        before = registry_contents(scratch.registry)

        registry_process.stop()
        registry_process.start()

        assert registry_contents(scratch.registry) == before
        # A new schema after the restart gets a new id, not one already handed out.
        tip = SchemaRegistryClient(scratch.registry_config()).register_schema(
            "tips", record("Tip", {"name": "amount", "type": "long"})
        )
        assert tip == 4
        before = registry_contents(scratch.registry)

    with running(services, output=logs):
        assert registry_contents(scratch.registry) == before
        assert before["global"] == "FULL"
        assert before["live"] == ["chat", "tips", "votes"]
        assert [(v, i) for v, i, _ in before["chat"][0]] == [(1, 1), (2, 2)]


def test_a_soft_deleted_subject_or_version_can_then_be_deleted_permanently(
    client: SchemaRegistryClient, subject: str
) -> None:
    # Schemas of this test alone: a schema another subject uses keeps its id readable.
    only_here, later = (
        record(subject.replace("-", "_"), TEXT),
        record(subject.replace("-", "_"), TEXT, LANGUAGE),
    )
    first_id = client.register_schema(subject, only_here)
    client.register_schema(subject, later)

    error = refused(lambda: client.delete_version(subject, 2, permanent=True))
    assert (error.http_status_code, error.error_code) == (404, 40407)
    error = refused(lambda: client.delete_subject(subject, permanent=True))
    assert (error.http_status_code, error.error_code) == (404, 40405)

    client.delete_version(subject, 2)
    assert client.delete_version(subject, 2, permanent=True) == 2
    fresh = uncached(client)
    assert fresh.get_versions(subject, deleted=True) == [1]

    client.delete_subject(subject)
    assert client.delete_subject(subject, permanent=True) == [1]
    fresh = uncached(client)
    assert subject not in fresh.get_subjects(deleted=True)
    assert refused(lambda: fresh.get_schema(first_id)).error_code == 40403
    # The subject starts again; its schema gets a new id: an id is never handed out twice.
    again = fresh.register_schema(subject, only_here)
    assert again > first_id
    assert fresh.get_versions(subject) == [1]
