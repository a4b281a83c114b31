"""Every livefold event type, from the Avro schemas under `schemas/<domain>/<snake_name>.avsc`,
and the topic names derived from them.

A domain is one topic: `livefold.<domain>.v1` carries every record type of `livefold.<domain>`.
Folds publish derived state to compacted `livefold.state.<name>.v1` topics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from streams.events import ENVELOPE_FIELDS

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"

DEADLETTER_TOPIC = "livefold.deadletter.v1"

# Derived state published by the folds, one compacted topic each (name -> what it holds).
STATE_TOPICS: dict[str, str] = {
    "stream": "stream lifecycle and settings per stream",
    "chat": "recent chat and pins per stream",
    "polls": "poll definitions and tallies",
    "quiz": "quiz questions, answers and leaderboards",
    "reactions": "reaction counts per stream and window",
    "tips": "tip ledger per stream",
    "audience": "viewer counts and followers",
    "media": "clips (once moderation allowed them) and recordings per stream",
    "moderation": "the moderation queue: messages held for a moderator",
    "modlog": "the moderation log: every verdict and action",
    "notifications": "notifications per stream and who follows it",
    "outcomes": "what became of each event folded: applied, or rejected with the reason",
}
# State topics the gateways read for themselves; clients never subscribe to them.
GATEWAY_ONLY = frozenset({"notifications", "outcomes"})


def event_topic(domain: str) -> str:
    return f"livefold.{domain}.v1"


def state_topic(name: str) -> str:
    if name not in STATE_TOPICS:
        raise KeyError(f"unknown state topic {name!r}; known: {', '.join(STATE_TOPICS)}")
    return f"livefold.state.{name}.v1"


class CatalogError(ValueError):
    """A schema file is malformed or does not follow livefold's layout."""


@dataclass(frozen=True)
class EventType:
    fullname: str  # "livefold.chat.MessageSent"
    domain: str  # "chat"
    topic: str  # "livefold.chat.v1"
    schema: dict[str, Any]  # parsed by fastavro
    definition: dict[str, Any]  # the .avsc as JSON, untouched
    schema_str: str  # the .avsc text, exactly what is registered
    path: Path

    @property
    def name(self) -> str:
        return self.fullname.rsplit(".", 1)[-1]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field["name"] for field in self.definition["fields"])


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def load_event_type(path: Path, domain: str) -> EventType:
    schema_str = path.read_text(encoding="utf-8")
    try:
        definition = json.loads(schema_str)
        schema = fastavro.parse_schema(definition)
    except (ValueError, fastavro.schema.SchemaParseException) as error:
        raise CatalogError(f"{path}: not a valid Avro schema: {error}") from error
    if not isinstance(schema, dict) or definition.get("type") != "record":
        raise CatalogError(f"{path}: must hold one record schema")
    fullname = schema["name"]
    if definition.get("namespace") != f"livefold.{domain}":
        raise CatalogError(f"{path}: namespace must be livefold.{domain}")
    if snake_case(definition["name"]) != path.stem:
        raise CatalogError(f"{path}: file must be named {snake_case(definition['name'])}.avsc")
    envelope = tuple(field["name"] for field in definition["fields"][: len(ENVELOPE_FIELDS)])
    if envelope != ENVELOPE_FIELDS:
        raise CatalogError(f"{path}: must start with the envelope fields {ENVELOPE_FIELDS}")
    return EventType(
        fullname=fullname,
        domain=domain,
        topic=event_topic(domain),
        schema=schema,
        definition=definition,
        schema_str=schema_str,
        path=path,
    )


class Catalog:
    def __init__(self, event_types: list[EventType]):
        self._by_name = {event_type.fullname: event_type for event_type in event_types}
        self._by_topic: dict[str, list[EventType]] = {}
        for event_type in event_types:
            self._by_topic.setdefault(event_type.topic, []).append(event_type)

    @classmethod
    def load(cls, root: Path = SCHEMAS_DIR) -> Catalog:
        paths = sorted(root.glob("*/*.avsc"))
        if not paths:
            raise CatalogError(f"no schemas found under {root}")
        return cls([load_event_type(path, path.parent.name) for path in paths])

    def __getitem__(self, fullname: str) -> EventType:
        try:
            return self._by_name[fullname]
        except KeyError:
            raise KeyError(f"unknown event type {fullname!r}") from None

    def get(self, fullname: str) -> EventType | None:
        return self._by_name.get(fullname)

    def __contains__(self, fullname: object) -> bool:
        return fullname in self._by_name

    def __iter__(self) -> Iterator[EventType]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def on_topic(self, topic: str) -> list[EventType]:
        """The record types a topic carries (empty for a topic livefold does not know)."""
        return list(self._by_topic.get(topic, []))

    def topics(self) -> list[str]:
        """Every event topic, sorted."""
        return sorted(self._by_topic)

    def domains(self) -> list[str]:
        return sorted({event_type.domain for event_type in self})


@cache
def catalog() -> Catalog:
    """livefold's own schemas, loaded once per process."""
    return Catalog.load()
