"""The contract between livefold's folds and whatever drives them (a Faust agent, replay, a test).

Each domain module (`stream`, `chat`, `polls`, `quizzes`, `reactions`, `tips`, `audience`,
`media`, `notifications`; all listed in `livefold.domains.DOMAINS`) is a `Domain`: it names its
output channel (`CHANNEL`), the event types it folds (`HANDLES`), the state each event belongs
to (`key_of`, always within one stream, so a key's events share a partition), how often a timer
should flush it (`FLUSH_EVERY`), and two pure functions:

- `fold(state | None, event) -> (state, outputs)`: apply one event. Time comes only from the
  event's `occurred_at`, never the wall clock, so folding the log again rebuilds every state.
- `flush(state, now) -> (state, outputs)`: what a timer owes subscribers when events stop
  (a reaction window that ended, a poll past its deadline). It may touch publication
  bookkeeping only, never folded facts, so when and how often it runs cannot change them.

States are plain JSON dicts (a TypedDict per domain) updated in place and returned: per event
work stays small (no copy of a big state), and a state is stored as it is (`dumps`/`loads`).
A driver must therefore not share one state object between two tables, and must store the
returned state back (Faust writes its changelog on assignment).

Top-level state fields whose names start with "_" are bookkeeping (recently applied event ids,
what was last published). They may legitimately differ between a live run and a replay (timer
ticks, the interleaving of two topics), so `digest` leaves them out. A fold that reads several
topics (stream, chat) keeps each fact driven by one topic's events or independent of order, so
any interleaving of the topics gives the same facts.

Outputs:
- `Update`: the latest view of one thing, for the compacted topic `livefold.state.<channel>.v1`
  keyed by `key`. Later updates of the same (channel, key) supersede earlier ones, so a driver
  may publish only the last of a burst, at most every 100 ms, except `urgent` ones (a poll's
  final result), which go out at once, after what came before them.
- `Notice`: a one-off happening for live subscribers (a chat line, a tip alert); never dropped
  or merged.
- `Rejected`: an event the fold refused, with the reason; it took no effect (though a vote
  past a poll's deadline does tell the fold that the poll is over).
- `ToAuthor`: a rejection's sibling that is not a refusal: moderation telling an author their
  message was held for review or blocked, and why.
- `Event`: a new event the fold decided (a moderation verdict), for the driver to append to
  its event topic; its id derives from its cause, so a replay's copy is deduplicated.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson

from streams.events import Event, to_millis

# How many recently applied event ids a state remembers. Duplicates in livefold come from a
# client or gateway re-appending an event (seconds later) and from a restarted worker re-reading
# the records after its last commit; per key both stay far below this many events as long as
# the driver commits at least every few seconds. An older duplicate would be applied again:
# remembering every id forever would make states grow without end. The record is trimmed in
# one go (see `bounded`), so a state holds between 10,000 and 12,500 ids (~45 bytes each in
# JSON).
DEDUPE_WINDOW = 10_000

SEEN = "_seen"

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Update:
    channel: str
    key: str
    value: dict[str, Any]
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    channel: str
    key: str
    kind: str
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    channel: str
    key: str
    event: Event
    reason: str
    dead_letter: bool = False  # also for the dead-letter topic: see `Unfounded`

    @property
    def value(self) -> dict[str, Any]:
        return {
            "event_id": self.event.event_id,
            "event_type": self.event.type,
            "stream_id": self.event.stream_id,
            "actor_id": self.event.actor_id,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ToAuthor(Rejected):
    """Not a refusal: what a fold did with an author's event that the author alone should hear
    (moderation held their message for review, or blocked it, and why). It travels as a
    rejection does, to the author's sockets; `frame` names the frame type they receive."""

    frame: str = "rejected"
    detail: tuple[tuple[str, Any], ...] = ()

    @property
    def value(self) -> dict[str, Any]:
        return {**Rejected.value.fget(self), "frame": self.frame, **dict(self.detail)}  # type: ignore[attr-defined]


Output = Update | Notice | Rejected | Event

EVENT_REFUSED = "livefold.folds.EventRefused"
_REFUSALS = uuid.UUID("6f1c2b0e-8d1a-4c59-9a57-2d1f0c6e7b31")  # names refusal events' ids


def refusal_event(rejected: Rejected) -> Event | None:
    """The `EventRefused` a worker appends for a refusal (None for what only tells the author,
    such as a held message): its id derives from the refused event and the fold, so folding
    the event again appends the same event."""
    if rejected.value.get("frame", "rejected") != "rejected":
        return None
    refused = rejected.event
    return Event(
        EVENT_REFUSED,
        {
            "event_id": str(uuid.uuid5(_REFUSALS, f"{refused.event_id}/{rejected.channel}")),
            "stream_id": refused.stream_id,
            "actor_id": refused.actor_id,
            "occurred_at": refused.occurred_at_ms,
            "trace_id": refused.trace_id,
            "refused_event_id": refused.event_id,
            "refused_type": refused.type,
            "fold": rejected.channel,
            "reason": rejected.reason,
        },
    )


OUTCOMES = "outcomes"  # the state channel that says what became of each event folded


def outcome_notices(events: Iterable[Event], outputs: Iterable[Output]) -> list[Notice]:
    """What became of a batch's events, one notice per stream: `{"events": [[event_id,
    actor_id, event_type, "applied" | "rejected", reason], ...]}`, for every gateway to answer
    `GET /api/v1/events/{id}` (events of "system" left out: no client asks)."""
    refused: dict[str, str] = {}
    for output in outputs:
        if isinstance(output, Rejected) and output.value.get("frame", "rejected") == "rejected":
            refused.setdefault(output.event.event_id, output.reason)
    by_stream: dict[str, dict[str, list[Any]]] = {}
    for event in events:
        if event.actor_id == "system":
            continue
        reason = refused.get(event.event_id)
        status = "applied" if reason is None else "rejected"
        entry = [event.event_id, event.actor_id, event.type, status, reason]
        by_stream.setdefault(event.stream_id, {})[event.event_id] = entry
    return [
        Notice(OUTCOMES, stream_id, "folded", {"events": list(entries.values())})
        for stream_id, entries in by_stream.items()
    ]


class Domain(Protocol):
    """What every domain module provides; a module satisfies it as it is."""

    CHANNEL: str
    HANDLES: frozenset[str]
    FLUSH_EVERY: float | None  # seconds between flush() calls a driver should make; None: never

    def key_of(self, event: Event) -> str: ...

    def fold(self, state: Any, event: Event) -> tuple[Any, list[Output]]: ...

    def flush(self, state: Any, now: datetime) -> tuple[Any, list[Output]]: ...


def rebuilt_fields(domain: Domain) -> tuple[str, ...]:
    """A domain may name, as `REBUILT_FIELDS`, state fields its fold rebuilds from the rest
    when they are missing (indexes): a stored state can leave them out."""
    return tuple(getattr(domain, "REBUILT_FIELDS", ()))


class Refused(Exception):
    """Raised by a handler, before it changes anything, to reject the event with a reason."""


class Unfounded(Refused):
    """A refusal of an event that should never have been appended (a payment capture unlike
    the tip's intent): the driver also sends it to the dead-letter topic for someone to see."""


Handler = Callable[[Any, Event], list[Output]]


def seen_before(state: Mapping[str, Any], event: Event) -> bool:
    return event.event_id in state[SEEN]


def remember(state: Any, event: Event) -> None:
    """Record the event as applied (or rejected): when it comes again, it changes nothing."""
    seen: dict[str, None] = state[SEEN]
    seen[event.event_id] = None
    state[SEEN] = bounded(seen, DEDUPE_WINDOW)


def apply(
    state: Any, event: Event, handlers: Mapping[str, Handler], channel: str, key: str
) -> list[Output]:
    """Run the event's handler once per event id; a refusal or a malformed body becomes Rejected.

    Handlers validate before they mutate, so a refused event leaves the state as it was.
    """
    if seen_before(state, event):
        return []
    remember(state, event)
    handler = handlers.get(event.type)
    if handler is None:
        return [Rejected(channel, key, event, f"the {channel} fold does not take {event.type}")]
    try:
        return handler(state, event)
    except Refused as refusal:
        unfounded = isinstance(refusal, Unfounded)
        return [Rejected(channel, key, event, str(refusal), dead_letter=unfounded)]
    except (KeyError, TypeError, ValueError) as error:
        return [Rejected(channel, key, event, f"malformed {event.type}: {error!r}")]


def bounded(entries: dict[K, V], limit: int) -> dict[K, V]:
    """`entries`, or once it has grown a quarter past `limit`, its `limit` newest entries.

    Trimming in one go keeps the cost per entry constant: removing a dict's oldest entries one
    at a time makes CPython scan the removed slots again on every removal.
    """
    if len(entries) < limit + limit // 4:
        return entries
    return dict(list(entries.items())[-limit:])


def millis(moment: datetime) -> int:
    return to_millis(moment)


def dumps(state: Mapping[str, Any]) -> bytes:
    """The state as compact JSON; `loads(dumps(s)) == s` for every fold's state.

    orjson writes the very bytes `json.dumps(separators=(",", ":"), ensure_ascii=False)` does
    for fold states, five times as fast (a worker encodes every state a batch changed); what
    it does not take (an integer past 64 bits) goes through `json`."""
    try:
        return orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    try:
        state = orjson.loads(data)
    except ValueError as error:
        raise ValueError(f"stored state is not valid JSON: {error}") from error
    if not isinstance(state, dict) or SEEN not in state:
        raise ValueError("stored state is not a fold state (a JSON object with '_seen')")
    return state


def facts(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state without its bookkeeping fields."""
    return {name: value for name, value in state.items() if not name.startswith("_")}


def digest(tables: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """A stable hash of every state: {domain: {key: state}} -> hex SHA-256.

    Canonical JSON (sorted keys) of each state's facts, domains and keys in sorted order.
    """
    hasher = hashlib.sha256()
    for domain in sorted(tables):
        states = tables[domain]
        for key in sorted(states):
            line = json.dumps(
                [domain, key, facts(states[key])],
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
            )
            hasher.update(line.encode())
            hasher.update(b"\n")
    return hasher.hexdigest()


def fold_all(
    domain: Domain, events: list[Event], tables: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[Output]]:
    """Fold events in order into {key: state}: what a driver does, without Kafka."""
    states: dict[str, Any] = {} if tables is None else tables
    outputs: list[Output] = []
    handles = domain.HANDLES
    for event in events:
        if event.type not in handles:
            continue
        key = domain.key_of(event)
        state, produced = domain.fold(states.get(key), event)
        states[key] = state
        outputs += produced
    return states, outputs
