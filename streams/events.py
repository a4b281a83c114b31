"""The one value domain code deals in: an event, named by its Avro record's full name, with the
record as a plain dict. Domain code imports this module only, never Kafka or the codec.

Bodies hold Avro's underlying types: timestamps are epoch milliseconds (int), UUIDs are strings,
so a body is what goes on the wire and (except `bytes` fields) what JSON can carry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ENVELOPE_FIELDS = ("event_id", "stream_id", "actor_id", "occurred_at", "trace_id")
SYSTEM_ACTOR = "system"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused: their zone is a guess)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give it a time zone (UTC)")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_millis(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # the record's full name, e.g. "livefold.chat.MessageSent"
    body: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.body["event_id"])

    @property
    def stream_id(self) -> str:
        return str(self.body["stream_id"])

    @property
    def actor_id(self) -> str:
        return str(self.body["actor_id"])

    @property
    def occurred_at_ms(self) -> int:
        return int(self.body["occurred_at"])

    @property
    def occurred_at(self) -> datetime:
        return from_millis(self.occurred_at_ms)

    @property
    def trace_id(self) -> str | None:
        trace_id = self.body.get("trace_id")
        return None if trace_id is None else str(trace_id)

    @property
    def domain(self) -> str:
        """ "chat" for "livefold.chat.MessageSent"."""
        return self.type.rsplit(".", 2)[-2]

    @property
    def name(self) -> str:
        """ "MessageSent" for "livefold.chat.MessageSent"."""
        return self.type.rsplit(".", 1)[-1]

    def payload(self) -> dict[str, Any]:
        """The body without the envelope."""
        return {k: v for k, v in self.body.items() if k not in ENVELOPE_FIELDS}


def new_event(
    type: str,
    *,
    stream_id: str,
    actor_id: str,
    trace_id: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    **payload: Any,
) -> Event:
    """A fresh event: a new UUID and the current time (ms precision) unless given.

    Top-level datetime payload values become epoch milliseconds, UUIDs become strings.
    Nothing is validated here; the codec validates against the schema when encoding.
    """
    moment = datetime.now(UTC) if occurred_at is None else occurred_at
    body: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "stream_id": stream_id,
        "actor_id": actor_id,
        "occurred_at": to_millis(moment),
        "trace_id": trace_id,
    }
    for name, value in payload.items():
        if isinstance(value, datetime):
            value = to_millis(value)
        elif isinstance(value, uuid.UUID):
            value = str(value)
        body[name] = value
    return Event(type, body)
