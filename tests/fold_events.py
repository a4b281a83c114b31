"""Events for the fold tests, built as the codec would hand them over: checked against their
Avro schema and livefold's rules, with the schema's defaults filled in."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from livefold.folding import Domain, Notice, Output, Rejected, Update, fold_all
from livefold.settings import Settings
from streams.catalog import catalog
from streams.events import Event, new_event
from streams.validation import Validator

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_validator = Validator(Settings().reaction_kinds)
_ids = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(
    type_: str, t: float = 0.0, *, stream: str = "s1", actor: str = "viewer-1", **payload: Any
) -> Event:
    """A valid event of `type_` at T0 + t seconds, with a fresh (deterministic) event id."""
    made = new_event(
        type_,
        stream_id=stream,
        actor_id=actor,
        event_id=str(uuid.UUID(int=next(_ids), version=4)),
        occurred_at=at(t),
        **payload,
    )
    event_type = catalog()[type_]
    body = dict(made.body)
    for field in event_type.definition["fields"]:
        if field["name"] not in body and "default" in field:
            body[field["name"]] = field["default"]
    _validator.validate(type_, body, event_type.schema)
    return Event(type_, body)


def again(original: Event) -> Event:
    """The very same event once more (same event id), as a redelivery or a retried append."""
    return Event(original.type, dict(original.body))


def resent(original: Event, **changes: Any) -> Event:
    """Another event (a new event id) with the same payload, but for `changes`."""
    body = {**original.body, "event_id": str(uuid.UUID(int=next(_ids), version=4)), **changes}
    return Event(original.type, body)


def run(domain: Domain, *events: Event) -> tuple[dict[str, Any], list[Output]]:
    return fold_all(domain, list(events))


def updates(outputs: list[Output], key: str | None = None) -> list[dict[str, Any]]:
    return [o.value for o in outputs if isinstance(o, Update) and key in (None, o.key)]


def last(outputs: list[Output], key: str | None = None) -> dict[str, Any]:
    found = updates(outputs, key)
    assert found, f"no update{'' if key is None else f' for {key}'} in {outputs}"
    return found[-1]


def reasons(outputs: list[Output]) -> list[str]:
    return [o.reason for o in outputs if isinstance(o, Rejected)]


def notices(outputs: list[Output], kind: str | None = None) -> list[dict[str, Any]]:
    return [o.value for o in outputs if isinstance(o, Notice) and kind in (None, o.kind)]
