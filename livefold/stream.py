"""One state record per stream: lifecycle (scheduled -> live -> ended), settings and chat modes,
live and peak viewers, chat rate, totals of reactions and tips, and who is on stage with the
streamer (co-streaming; each invitation is its own record, see `guests`).

This fold reads several topics (stream, moderation, chat, reactions, tips, audience, costream),
whose events a live run and a replay may interleave differently. So each part of the state is
driven by one topic only, or is order-free: chat modes set by a stream setting and by moderation
are resolved by event time (last writer wins, then event id); chat rate is measured by the chat
events' own clock; viewers are counted by the audience events' clock (see `audience`); tips
obey the ledger's rule that an idempotency key captures once (see `tips`); invitations follow
the costream events alone (who may invite is the gateway's check).

Lifecycle and settings changes are published at once; chat, reactions and viewer changes at
most once per second of event time, and `flush` publishes what is left (and, once the stream
falls quiet, the viewers and chat rate as of the timer's clock).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from livefold import audience, guests, tips
from livefold.folding import Output, Refused, Update, apply, millis
from livefold.guests import Guest
from livefold.media import THUMBNAIL_CAPTURED
from streams.events import Event

CHANNEL = "stream"
CREATED = "livefold.stream.Created"
WENT_LIVE = "livefold.stream.WentLive"
SETTINGS_CHANGED = "livefold.stream.SettingsChanged"
ENDED = "livefold.stream.Ended"
CHAT_MODE_CHANGED = "livefold.moderation.ChatModeChanged"
MESSAGE_SENT = "livefold.chat.MessageSent"
REACTION_SENT = "livefold.reactions.ReactionSent"
HANDLES = frozenset(
    {CREATED, WENT_LIVE, SETTINGS_CHANGED, ENDED, CHAT_MODE_CHANGED, MESSAGE_SENT, REACTION_SENT}
    | {THUMBNAIL_CAPTURED}
    | {tips.TIP_INTENT_CREATED, tips.TIP_CAPTURED, tips.TIP_REFUNDED}
    | audience.PRESENCE_EVENTS
    | guests.HANDLES
)
FLUSH_EVERY: float | None = 1.0

LIKE_KIND = "heart"  # the reaction kind counted as a like
CHAT_RATE_SECONDS = 60
QUIET_MS = 5_000  # no chat for this long: flush measures the chat rate at the timer's clock


class ChatRate(TypedDict):
    clock: int  # latest occurred_at of a chat message
    seconds: dict[str, int]  # epoch second -> messages, for the last minute of the clock
    last_minute: int
    total: int


class Thumbnail(TypedDict):
    bucket: str
    key: str
    at: int  # when it was captured, epoch ms


class StreamState(TypedDict):
    stream_id: str
    status: str  # "unknown" (not created yet) | "scheduled" | "live" | "ended"
    streamer: str | None
    title: str | None
    category: str | None
    tags: list[str]
    language: str | None
    scheduled_start: int | None
    reactions_enabled: bool
    chat_modes: dict[str, Any] | None
    chat_modes_at: list[Any]  # [occurred_at, event_id] of the chat modes in force
    created_at: int | None
    live_at: int | None
    thumbnail: Thumbnail | None
    ended_at: int | None
    end_reason: str | None
    presence: audience.Presence
    chat: ChatRate
    reactions: dict[str, int]
    reactions_total: int
    tips: tips.TipBook
    guests: dict[str, Guest]  # invite id -> invitation
    _seen: dict[str, None]
    _second: int  # event-time second of the last throttled update
    _published: dict[str, Any]


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: StreamState | None, event: Event) -> tuple[StreamState, list[Output]]:
    if state is None:
        state = StreamState(
            stream_id=event.stream_id,
            status="unknown",
            streamer=None,
            title=None,
            category=None,
            tags=[],
            language=None,
            scheduled_start=None,
            reactions_enabled=True,
            chat_modes=None,
            chat_modes_at=[0, ""],
            created_at=None,
            live_at=None,
            thumbnail=None,
            ended_at=None,
            end_reason=None,
            presence=audience.new_presence(),
            chat=ChatRate(clock=0, seconds={}, last_minute=0, total=0),
            reactions={},
            reactions_total=0,
            tips=tips.new_book(),
            guests={},
            _seen={},
            _second=0,
            _published={},
        )
    state.setdefault("guests", {})  # states stored before co-streaming was folded
    state.setdefault("thumbnail", None)  # and before live thumbnails
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: StreamState, now: datetime) -> tuple[StreamState, list[Output]]:
    return state, _publish(state, millis(now))


def view(state: StreamState, now: int | None = None) -> dict[str, Any]:
    presence = state["presence"]
    book = state["tips"]
    return {
        "stream_id": state["stream_id"],
        "status": state["status"],
        "streamer": state["streamer"],
        "title": state["title"],
        "category": state["category"],
        "tags": list(state["tags"]),
        "language": state["language"],
        "scheduled_start": state["scheduled_start"],
        "created_at": state["created_at"],
        "live_at": state["live_at"],
        "thumbnail": None if state["thumbnail"] is None else dict(state["thumbnail"]),
        "ended_at": state["ended_at"],
        "end_reason": state["end_reason"],
        "chat_modes": None if state["chat_modes"] is None else dict(state["chat_modes"]),
        "reactions_enabled": state["reactions_enabled"],
        "viewers": audience.concurrent(presence, now),
        "peak_viewers": presence["peak"],
        "chat_messages": state["chat"]["total"],
        "chat_per_minute": chat_per_minute(state["chat"], now),
        "reactions": dict(state["reactions"]),
        "reactions_total": state["reactions_total"],
        "likes": state["reactions"].get(LIKE_KIND, 0),
        "tips": tips.net(book),
        "tips_count": sum(totals["tips"] for totals in book["totals"].values()),
        "on_stage": guests.on_stage(state["guests"]),
    }


def chat_per_minute(rate: ChatRate, now: int | None = None) -> int:
    """Messages in the minute up to the chat clock, or up to `now` once chat has gone quiet."""
    if now is None or now - rate["clock"] < QUIET_MS:
        return rate["last_minute"]
    first = now // 1000 - CHAT_RATE_SECONDS
    return sum(count for second, count in rate["seconds"].items() if int(second) > first)


def _on_created(state: StreamState, event: Event) -> list[Output]:
    if state["status"] != "unknown":
        raise Refused(f"stream {state['stream_id']} was already created")
    body = event.body
    title: str = body["title"]
    category: str = body["category"]
    state["status"] = "scheduled"
    state["streamer"] = event.actor_id
    state["title"] = title
    state["category"] = category
    state["tags"] = list(body.get("tags") or [])
    state["language"] = body.get("language")
    state["scheduled_start"] = body.get("scheduled_start")
    state["created_at"] = event.occurred_at_ms
    return _publish(state)


def _on_went_live(state: StreamState, event: Event) -> list[Output]:
    _require(state, "scheduled", "go live")
    state["status"] = "live"
    state["live_at"] = event.occurred_at_ms
    return _publish(state)


def _on_thumbnail(state: StreamState, event: Event) -> list[Output]:
    """The newest capture wins, by its own time: the media topic alone drives it."""
    current = state["thumbnail"]
    if current is not None and current["at"] >= event.occurred_at_ms:
        return []
    body = event.body
    at = event.occurred_at_ms
    state["thumbnail"] = Thumbnail(bucket=body["bucket"], key=body["s3_key"], at=at)
    return _publish(state)


def _on_ended(state: StreamState, event: Event) -> list[Output]:
    if state["status"] not in ("scheduled", "live"):
        _require(state, "live", "end")
    state["status"] = "ended"
    state["ended_at"] = event.occurred_at_ms
    state["end_reason"] = str(event.body.get("reason") or "other")
    return _publish(state)


def _on_settings(state: StreamState, event: Event) -> list[Output]:
    if state["status"] == "unknown":
        raise Refused(f"stream {state['stream_id']} was never created")
    changed = {name: value for name, value in event.body.items() if value is not None}
    if "title" in changed:
        state["title"] = changed["title"]
    if "category" in changed:
        state["category"] = changed["category"]
    if "language" in changed:
        state["language"] = changed["language"]
    if "reactions_enabled" in changed:
        state["reactions_enabled"] = bool(changed["reactions_enabled"])
    if "tags" in changed:
        state["tags"] = list(changed["tags"])
    if "chat_modes" in changed:
        _set_chat_modes(state, event, dict(changed["chat_modes"]))
    return _publish(state)


def _on_chat_modes(state: StreamState, event: Event) -> list[Output]:
    body = event.body
    modes = {
        "slow_seconds": body["slow_seconds"],
        "followers_only_minutes": body.get("followers_only_minutes"),
        "emote_only": body["emote_only"],
        "subscribers_only": body["subscribers_only"],
    }
    return _publish(state) if _set_chat_modes(state, event, modes) else []


def _on_message(state: StreamState, event: Event) -> list[Output]:
    rate = state["chat"]
    at = event.occurred_at_ms
    second = at // 1000
    if at > rate["clock"]:
        if second > rate["clock"] // 1000:
            _forget_before(rate, second - CHAT_RATE_SECONDS + 1)
        rate["clock"] = at
    if second > rate["clock"] // 1000 - CHAT_RATE_SECONDS:
        seconds = rate["seconds"]
        key = str(second)
        seconds[key] = seconds.get(key, 0) + 1
        rate["last_minute"] += 1
    rate["total"] += 1
    return _throttled(state, at)


def _on_reaction(state: StreamState, event: Event) -> list[Output]:
    body = event.body
    kind: str = body["kind"]
    count = int(body.get("count", 1))
    state["reactions"][kind] = state["reactions"].get(kind, 0) + count
    state["reactions_total"] += count
    return _throttled(state, event.occurred_at_ms)


def _on_tip(state: StreamState, event: Event) -> list[Output]:
    try:
        if event.type == tips.TIP_INTENT_CREATED:
            tips.expect(state["tips"], event)
            return []
        if event.type == tips.TIP_CAPTURED:
            tips.capture(state["tips"], event, event.actor_id)
        else:
            tips.refund(state["tips"], event)
    except Refused:
        return []  # the tips fold reports why; the totals just stay as they are
    return _publish(state)


def _on_guest(state: StreamState, event: Event) -> list[Output]:
    stream_id = state["stream_id"]
    invitation = guests.fold_guest(state["guests"], event)
    record = guests.record(stream_id, invitation)
    return [Update(CHANNEL, guests.key(stream_id, invitation), record), *_publish(state)]


def _on_presence(state: StreamState, event: Event) -> list[Output]:
    if audience.fold_presence(state["presence"], event):
        return _throttled(state, event.occurred_at_ms)
    return []


def _require(state: StreamState, status: str, action: str) -> None:
    if state["status"] != status:
        raise Refused(f"a stream that is {state['status']} cannot {action}")


def _set_chat_modes(state: StreamState, event: Event, modes: dict[str, Any]) -> bool:
    """Last writer by event time wins, whichever topic was read first."""
    stamp = [event.occurred_at_ms, event.event_id]
    if (stamp[0], stamp[1]) < (state["chat_modes_at"][0], state["chat_modes_at"][1]):
        return False
    state["chat_modes"] = modes
    state["chat_modes_at"] = stamp
    return True


def _forget_before(rate: ChatRate, first: int) -> None:
    seconds = rate["seconds"]
    for key in [key for key in seconds if int(key) < first]:
        rate["last_minute"] -= seconds.pop(key)


def _throttled(state: StreamState, at: int) -> list[Output]:
    if at // 1000 <= state["_second"]:
        return []
    state["_second"] = at // 1000
    return _publish(state)


def _publish(state: StreamState, now: int | None = None) -> list[Output]:
    current = view(state, now)
    if current == state["_published"]:
        return []
    state["_published"] = current
    return [Update(CHANNEL, state["stream_id"], current)]


_HANDLERS = {
    CREATED: _on_created,
    WENT_LIVE: _on_went_live,
    SETTINGS_CHANGED: _on_settings,
    ENDED: _on_ended,
    CHAT_MODE_CHANGED: _on_chat_modes,
    MESSAGE_SENT: _on_message,
    REACTION_SENT: _on_reaction,
    THUMBNAIL_CAPTURED: _on_thumbnail,
    tips.TIP_INTENT_CREATED: _on_tip,
    tips.TIP_CAPTURED: _on_tip,
    tips.TIP_REFUNDED: _on_tip,
    **dict.fromkeys(audience.PRESENCE_EVENTS, _on_presence),
    **dict.fromkeys(guests.HANDLES, _on_guest),
}
