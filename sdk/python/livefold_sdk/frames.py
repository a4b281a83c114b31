"""What a subscription yields: the gateway's `/ws` frames as typed values.

- `Snapshot`: the first frame of each (stream, channel) subscription: the current views, or,
  when resuming from a cursor, what changed since and the notices missed (`complete` is False
  when the gateway no longer held all of them: then `updates` is the whole current view).
- `Batch`: what changed in the last batching window (50-100 ms): `updates` coalesced to the
  latest value per key, `notices` (chat messages, deletions, tip alerts) in order.
- `Refusal`: a subscription the gateway refused (e.g. a moderator-only channel), or ended
  because the right to a moderator-only channel was lost (op "subscribe" when it happened
  while connected, op "auth" when a token refresh found it), or a refresh it refused (op
  "auth", no stream: a token for another user).
- `Rejected`: one of your own writes (over REST or the socket) that a fold refused after the
  gateway accepted it, e.g. a vote that came after the poll closed. Every socket signed in as
  you gets it, subscribed to the stream or not; it is not replayed after a reconnect. A chat
  message moderation blocked comes back so too, naming the message and the rule that decided.
- `Held`: one of your chat messages that moderation held for a moderator's review, with why;
  it shows in chat only if a moderator approves it. Like a blocked one's `Rejected`, only the
  author's sockets get it.
- `Reconnected`: the connection dropped and is back; snapshots of the resumed subscriptions
  follow.

Every Snapshot and Batch carries the channel's `cursor` ("<partition>:<offset>,..."); the
subscription keeps the last one per (stream, channel) and resumes from it after a reconnect.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar


@dataclass(frozen=True, slots=True)
class Update:
    key: str  # "<stream>" or "<stream>/<poll id>"...
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    key: str
    kind: str  # e.g. "message", "deleted", "alert"
    pos: str  # "<partition>:<offset>"
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _ChannelFrame:
    """What a Snapshot and a Batch both carry."""

    stream: str
    channel: str
    cursor: str
    updates: tuple[Update, ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class Snapshot(_ChannelFrame):
    resumed: bool
    complete: bool


@dataclass(frozen=True, slots=True)
class Batch(_ChannelFrame):
    pass


@dataclass(frozen=True, slots=True)
class Refusal:
    op: str
    reason: str
    stream: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class _OwnWriteFrame:
    """What a Rejected and a Held both carry: which of your writes it is about."""

    stream: str
    channel: str
    event_id: str  # the `event_id` the write's answer carried
    event_type: str  # e.g. "livefold.polls.VoteCast"


@dataclass(frozen=True, slots=True)
class Rejected(_OwnWriteFrame):
    reason: str
    # A chat message moderation blocked: its id, and the rule and category that decided.
    message_id: str | None = None
    rule: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Held(_OwnWriteFrame):
    """Your chat message, held for review: `reason` says why ("held for review: ...")."""

    message_id: str
    rule: str
    category: str
    reason: str


@dataclass(frozen=True, slots=True)
class Notification:
    """One of your notifications (docs/notifications.md), as it happened; on every socket you
    are signed in on, subscribed or not."""

    notification: dict[str, Any]  # notification_id, kind, stream_id, occurred_at, payload, ...


@dataclass(frozen=True, slots=True)
class Reconnected:
    attempts: int  # connection attempts it took
    code: int | None  # the close code that ended the previous connection (None: no close frame)
    reason: str


Frame = Snapshot | Batch | Refusal | Rejected | Held | Notification | Reconnected
_OwnWrite = TypeVar("_OwnWrite", bound=_OwnWriteFrame)


def _updates(items: Any) -> tuple[Update, ...]:
    return tuple(Update(str(item["key"]), item.get("value") or {}) for item in items or ())


def _notices(items: Any) -> tuple[Notice, ...]:
    return tuple(
        Notice(str(item["key"]), str(item.get("kind")), str(item.get("pos")), item.get("value"))
        for item in items or ()
    )


def _text(document: dict[str, Any], name: str) -> str:
    return str(document.get(name) or "")


def _optional(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) else None


def _channel_frame(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "stream": str(document["stream"]),
        "channel": str(document["channel"]),
        "cursor": _text(document, "cursor"),
        "updates": _updates(document.get("updates")),
        "notices": _notices(document.get("notices")),
    }


def _own_write(kind: type[_OwnWrite], document: dict[str, Any]) -> _OwnWrite:
    """A Rejected or Held frame: every field is text; one that defaults to None is optional."""
    values: dict[str, Any] = {
        field.name: (_optional if field.default is None else _text)(document, field.name)
        for field in fields(kind)
    }
    return kind(**values)


def parse(
    document: dict[str, Any],
) -> Snapshot | Batch | Refusal | Rejected | Held | Notification | None:
    """A data frame from the gateway's JSON; None for control frames (pong, welcome...)."""
    kind = document.get("type")
    if kind == "snapshot":
        return Snapshot(
            **_channel_frame(document),
            resumed=bool(document.get("resumed")),
            complete=bool(document.get("complete", True)),
        )
    if kind == "batch":
        return Batch(**_channel_frame(document))
    if kind == "rejected":
        return _own_write(Rejected, document)
    if kind == "held":
        return _own_write(Held, document)
    if kind == "notification":
        return Notification(dict(document.get("notification") or {}))
    if kind == "error":
        return Refusal(
            op=_text(document, "op"),
            reason=_text(document, "reason"),
            stream=document.get("stream"),
            channel=document.get("channel"),
        )
    return None
