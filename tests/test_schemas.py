"""The event catalog: every schema under schemas/ follows livefold's layout, and the events API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import topic_record_subject_name_strategy
from confluent_kafka.serialization import MessageField, SerializationContext

from streams.catalog import (
    DEADLETTER_TOPIC,
    SCHEMAS_DIR,
    STATE_TOPICS,
    Catalog,
    CatalogError,
    EventType,
    catalog,
    state_topic,
)
from streams.codec import subject_name
from streams.events import ENVELOPE_FIELDS, Event, new_event
from streams.topics import topic_specs
from tests.examples import EXAMPLES
from tests.servers import settings_on_free_ports

EVENT_TYPES = list(catalog())
FAMILIES = {
    "stream": {"Created", "WentLive", "SettingsChanged", "Ended"},
    "chat": {"MessageSent", "MessageDeleted", "MessagePinned"},
    "reactions": {"ReactionSent"},
    "polls": {"PollCreated", "PollOpened", "VoteCast", "PollClosed"},
    "quiz": {"QuizQuestionPosed", "QuizAnswerSubmitted", "QuizAnswerRevealed"},
    "tips": {"TipIntentCreated", "TipCaptured", "TipFailed", "TipRefunded"},
    "folds": {"EventRefused"},
    "moderation": {
        "MessageFlagged",
        "VerdictIssued",
        "UserTimedOut",
        "UserBanned",
        "UserUnbanned",
        "TermBlocked",
        "TermUnblocked",
        "ChatModeChanged",
    },
    "audience": {"ViewerJoined", "ViewerLeft", "ViewerHeartbeat", "Followed", "Unfollowed"},
    "costream": {
        "GuestInvited",
        "GuestAccepted",
        "GuestJoinedStage",
        "GuestLeftStage",
        "GuestMuted",
    },
    "media": {
        "IngestStarted",
        "IngestStopped",
        "IngestHealth",
        "RecordingFinished",
        "ClipCreated",
        "StreamKeyRotated",
        "ClipReady",
        "ClipFailed",
        "ThumbnailCaptured",
    },
    "notifications": {
        "NotificationRequested",
        "PushSubscribed",
        "PushUnsubscribed",
        "WebhookRegistered",
        "WebhookRemoved",
    },
    "accounts": {
        "AccountCreated",
        "ProfileChanged",
        "RoleGranted",
        "RoleRevoked",
        "AccountDeleted",
    },
}
ENVELOPE_TYPES = [
    {"type": "string", "logicalType": "uuid"},
    "string",
    "string",
    {"type": "long", "logicalType": "timestamp-millis"},
    ["null", "string"],
]


def by_name(event_type: EventType) -> str:
    return event_type.fullname


def fields_of(schema: Any) -> Iterator[dict[str, Any]]:
    """Every field of a schema, nested records included."""
    if isinstance(schema, list):
        for branch in schema:
            yield from fields_of(branch)
    elif isinstance(schema, dict):
        for field in schema.get("fields", []):
            yield field
            yield from fields_of(field["type"])
        for key in ("items", "values"):
            yield from fields_of(schema.get(key))


def named_types_of(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, list):
        for branch in schema:
            yield from named_types_of(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            yield schema
        for field in schema.get("fields", []):
            yield from named_types_of(field["type"])
        for key in ("items", "values"):
            yield from named_types_of(schema.get(key))


def test_every_schema_file_parses_and_is_in_the_catalog() -> None:
    files = sorted(SCHEMAS_DIR.glob("*/*.avsc"))
    assert len(files) == len(EVENT_TYPES) >= 46
    for path in files:
        fastavro.parse_schema(json.loads(path.read_text()))
    assert {t.path for t in EVENT_TYPES} == set(files)


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=by_name)
def test_a_record_is_named_after_its_file_and_domain(event_type: EventType) -> None:
    domain = event_type.path.parent.name
    assert event_type.definition["namespace"] == f"livefold.{domain}"
    assert event_type.fullname == f"livefold.{domain}.{event_type.name}"
    assert event_type.name[0].isupper() and "_" not in event_type.name
    assert event_type.topic == f"livefold.{domain}.v1"


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=by_name)
def test_a_record_starts_with_the_envelope_in_order(event_type: EventType) -> None:
    envelope = event_type.definition["fields"][:5]
    assert [field["name"] for field in envelope] == list(ENVELOPE_FIELDS)
    assert [field["type"] for field in envelope] == ENVELOPE_TYPES
    assert envelope[4]["default"] is None
    assert len(event_type.definition["fields"]) >= 5


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=by_name)
def test_every_field_and_named_type_has_a_doc(event_type: EventType) -> None:
    undocumented = [f["name"] for f in fields_of(event_type.definition) if not f.get("doc")]
    assert undocumented == []
    assert all(named.get("doc") for named in named_types_of(event_type.definition))


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=by_name)
def test_optional_fields_are_null_first_with_a_null_default(event_type: EventType) -> None:
    for field in fields_of(event_type.definition):
        if isinstance(field["type"], list):
            assert field["type"][0] == "null", field["name"]
            assert "default" in field and field["default"] is None, field["name"]


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=by_name)
def test_enums_of_events_have_a_default_symbol_for_readers_of_older_code(
    event_type: EventType,
) -> None:
    for named in named_types_of(event_type.definition):
        if named["type"] == "enum":
            assert named.get("default") in named["symbols"], named["name"]


def test_every_family_has_its_record_types_on_its_own_topic() -> None:
    events = catalog()
    assert events.domains() == sorted(FAMILIES)
    assert events.topics() == sorted(f"livefold.{domain}.v1" for domain in FAMILIES)
    for domain, names in FAMILIES.items():
        on_topic = {t.name for t in events.on_topic(f"livefold.{domain}.v1")}
        assert names <= on_topic, f"{domain} lacks {names - on_topic}"
    assert events.on_topic("livefold.nonsense.v1") == []


def test_every_event_type_has_a_realistic_example() -> None:
    assert set(EXAMPLES) == {t.fullname for t in EVENT_TYPES}


def test_account_events_carry_personal_data_only_encrypted() -> None:
    in_clear = {"email", "name", "display_name", "username", "password", "phone", "birthdate"}
    for event_type in catalog().on_topic("livefold.accounts.v1"):
        names = {field["name"] for field in fields_of(event_type.definition)}
        assert not names & in_clear, event_type.fullname
        if "encrypted_profile" in names:
            assert "key_id" in names


def test_subjects_are_what_confluents_topic_record_strategy_names() -> None:
    for event_type in EVENT_TYPES:
        context = SerializationContext(event_type.topic, MessageField.VALUE)
        expected = topic_record_subject_name_strategy(context, event_type.fullname)
        assert subject_name(event_type.topic, event_type.fullname) == expected


def test_lookups_by_name_and_topic() -> None:
    events = catalog()
    sent = events["livefold.chat.MessageSent"]
    assert sent.domain == "chat" and sent in events.on_topic("livefold.chat.v1")
    assert "livefold.chat.MessageSent" in events and events.get("livefold.chat.Nope") is None
    with pytest.raises(KeyError, match=r"unknown event type 'livefold\.chat\.Nope'"):
        events["livefold.chat.Nope"]
    assert catalog() is events  # loaded once


def test_a_misplaced_schema_is_refused_with_its_path(tmp_path: Path) -> None:
    source = SCHEMAS_DIR / "chat" / "message_sent.avsc"
    (tmp_path / "polls").mkdir()
    (tmp_path / "polls" / "message_sent.avsc").write_text(source.read_text())
    with pytest.raises(CatalogError, match=r"polls/message_sent.avsc: namespace must be"):
        Catalog.load(tmp_path)
    (tmp_path / "polls" / "message_sent.avsc").write_text("{not json")
    with pytest.raises(CatalogError, match="not a valid Avro schema"):
        Catalog.load(tmp_path)


def test_topic_specs_keep_events_forever_and_compact_state(tmp_path: Path) -> None:
    settings = settings_on_free_ports(tmp_path).model_copy(
        update={"topic_partitions": 12, "topic_replication_factor": 3}
    )
    specs = {spec.name: spec for spec in topic_specs(settings)}
    state = {state_topic(name) for name in STATE_TOPICS}
    assert set(specs) == {*catalog().topics(), *state, DEADLETTER_TOPIC}
    assert "livefold.state.modlog.v1" in state and "livefold.state.quiz.v1" in state
    for name, spec in specs.items():
        assert (spec.partitions, spec.replication_factor) == (12, 3)
        assert spec.config["min.insync.replicas"] == "2"
        if name in state:
            assert spec.config["cleanup.policy"] == "compact"
        elif name != DEADLETTER_TOPIC:
            assert spec.config["retention.ms"] == "-1"
    assert int(specs[DEADLETTER_TOPIC].config["retention.ms"]) > 0
    with pytest.raises(KeyError, match="unknown state topic"):
        state_topic("nonsense")


def test_a_new_event_gets_a_fresh_uuid_and_the_current_time_to_the_millisecond() -> None:
    before = datetime.now(UTC)
    event = new_event("livefold.reactions.ReactionSent", stream_id="s", actor_id="u", kind="fire")
    other = new_event("livefold.reactions.ReactionSent", stream_id="s", actor_id="u", kind="fire")
    assert uuid.UUID(event.event_id).version == 4 and event.event_id != other.event_id
    assert event.occurred_at.tzinfo == UTC and event.occurred_at.microsecond % 1000 == 0
    assert before - timedelta(milliseconds=1) <= event.occurred_at <= datetime.now(UTC)
    assert (event.stream_id, event.actor_id, event.trace_id) == ("s", "u", None)
    assert (event.domain, event.name) == ("reactions", "ReactionSent")
    assert event.payload() == {"kind": "fire"}


def test_a_new_event_stores_datetimes_as_epoch_millis_and_refuses_naive_ones() -> None:
    at = datetime(2026, 5, 1, 20, 30, tzinfo=timezone(timedelta(hours=2)))
    event = new_event(
        "livefold.chat.MessagePinned",
        stream_id="s",
        actor_id="u",
        occurred_at=at,
        message_id="m",
        pinned=True,
        until=at + timedelta(minutes=5),
    )
    assert event.body["occurred_at"] == 1_777_660_200_000
    assert event.body["until"] == 1_777_660_500_000
    assert event.occurred_at == at and event.occurred_at.tzinfo == UTC
    with pytest.raises(ValueError, match="naive datetime"):
        new_event(
            "livefold.chat.MessagePinned",
            stream_id="s",
            actor_id="u",
            occurred_at=datetime(2026, 5, 1),
        )


def test_events_are_values() -> None:
    body = {"event_id": "e", "stream_id": "s", "actor_id": "u", "occurred_at": 0}
    assert Event("livefold.chat.MessageSent", body) == Event(
        "livefold.chat.MessageSent", dict(body)
    )
    assert Event("t", body).occurred_at == datetime(1970, 1, 1, tzinfo=UTC)
