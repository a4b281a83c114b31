"""Notifications per stream: who follows it and what was notified, for followers, its streamer
and its chat's authors.

The fold decides a notification when its cause is folded and appends it to the log as a
`NotificationRequested` (its id derives from the cause, so a replay decides the same event, and
the copy that comes back from the log changes nothing): the stream went live (its followers),
a reply to a chat message that moderation allowed (the replied-to author), a tip captured (the
streamer). A scheduled stream starting within `SOON_MS` is noticed by `flush` (wall-clock
time), which only appends the request; the fold applies it when it comes back from the log, so
replay, which folds that copy, gets the same state. Any `NotificationRequested` in the log is
applied the same way, whoever appended it.

Facts do not depend on how the topics interleave (working memory that may, such as verdicts
seen before their message, is bookkeeping: `_` fields): the followers come from the audience
topic alone, a notification is kept with its audience (followers, or one user) rather than expanded
to the followers of the moment, the newest `KEPT` are kept in (occurred_at, id) order, and a
reply's verdict may come before or after its message. Outputs: an `Update` of the stream's
notifications (key `<stream>`), an `Update` per follow (`<stream>/f/<user>`), and a `Notice`
per notification, which gateways send to its recipients' sockets (`streams/inboxes.py`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Notice, Output, Update, apply, bounded, millis, remember
from streams.events import Event

CHANNEL = "notifications"
REQUESTED = "livefold.notifications.NotificationRequested"
FOLLOWED = "livefold.audience.Followed"
UNFOLLOWED = "livefold.audience.Unfollowed"
CREATED = "livefold.stream.Created"
SETTINGS_CHANGED = "livefold.stream.SettingsChanged"
WENT_LIVE = "livefold.stream.WentLive"
ENDED = "livefold.stream.Ended"
MESSAGE_SENT = "livefold.chat.MessageSent"
VERDICT_ISSUED = "livefold.moderation.VerdictIssued"
TIP_INTENT = "livefold.tips.TipIntentCreated"
TIP_CAPTURED = "livefold.tips.TipCaptured"
HANDLES = frozenset(
    {
        REQUESTED,
        FOLLOWED,
        UNFOLLOWED,
        CREATED,
        SETTINGS_CHANGED,
        WENT_LIVE,
        ENDED,
        MESSAGE_SENT,
        VERDICT_ISSUED,
        TIP_INTENT,
        TIP_CAPTURED,
    }
)
FLUSH_EVERY: float | None = 30.0

STREAM_LIVE = "stream_live"
STARTING_SOON = "stream_starting_soon"
CHAT_REPLY = "chat_reply"
TIP_RECEIVED = "tip_received"
KINDS = (STREAM_LIVE, STARTING_SOON, CHAT_REPLY, TIP_RECEIVED)

SOON_MS = 15 * 60_000  # a scheduled stream this close to its start is "starting soon"
KEPT = 200  # notifications kept per stream, the newest
RECENT_KEPT = 5_000  # recent chat messages (authors, verdicts) and tips a notification can name
_IDS = uuid.UUID("0c7d1f4e-5b2a-4e8f-9d61-3a9b7e2c4f10")  # names notification requests


class Notification(TypedDict):
    notification_id: str
    kind: str
    stream_id: str
    audience: str  # "followers", or "user" for recipient_id alone
    recipient_id: str | None
    occurred_at: int
    payload: dict[str, str]


class Reply(TypedDict):
    at: int  # the reply's occurred_at
    replier: str
    author: str  # of the message replied to


class NotificationState(TypedDict):
    stream_id: str
    streamer: str | None
    title: str
    scheduled_start: int | None  # epoch ms, until the stream goes live or ends
    followers: dict[str, int]  # follower -> followed at
    _authors: dict[str, str]  # message id -> author
    _replies: dict[str, Reply]  # reply's message id -> the reply, until its verdict
    _verdicts: dict[str, str]  # message id -> verdict that came before its message
    _tippers: dict[str, str]  # tip id -> who tipped
    _untold_tips: list[list[Any]]  # [tip id, occurred_at, payload] captured before Created
    notifications: list[Notification]  # the newest KEPT, in (occurred_at, id) order
    _seen: dict[str, None]
    _soon_requested: int | None  # the scheduled start whose "starting soon" was requested


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: NotificationState | None, event: Event) -> tuple[NotificationState, list[Output]]:
    if state is None:
        state = NotificationState(
            stream_id=event.stream_id,
            streamer=None,
            title="",
            scheduled_start=None,
            followers={},
            _authors={},
            _replies={},
            _verdicts={},
            _tippers={},
            _untold_tips=[],
            notifications=[],
            _seen={},
            _soon_requested=None,
        )
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: NotificationState, now: datetime) -> tuple[NotificationState, list[Output]]:
    start = state["scheduled_start"]
    if start is None or state["_soon_requested"] == start:
        return state, []
    if not 0 <= start - millis(now) <= SOON_MS:
        return state, []
    state["_soon_requested"] = start
    payload = {"title": state["title"], "scheduled_start": str(start)}
    cause = f"{state['stream_id']}@{start}"
    return state, [_request(state, STARTING_SOON, cause, millis(now), payload, None)]


def notification_id(kind: str, cause: str, recipient: str | None) -> str:
    return str(uuid.uuid5(_IDS, f"{kind}/{cause}/{recipient or ''}"))


def view(state: NotificationState) -> dict[str, Any]:
    return {"stream_id": state["stream_id"], "notifications": state["notifications"]}


def _request(
    state: NotificationState,
    kind: str,
    cause: str,
    at: int,
    payload: dict[str, str],
    recipient: str | None,
) -> Event:
    identity = notification_id(kind, cause, recipient)
    return Event(
        REQUESTED,
        {
            "event_id": identity,
            "stream_id": state["stream_id"],
            "actor_id": "system",
            "occurred_at": at,
            "trace_id": None,
            "notification_id": identity,
            "audience": "followers" if recipient is None else "user",
            "recipient_id": recipient,
            "kind": kind,
            "payload": payload,
        },
    )


def _decided(state: NotificationState, request: Event) -> list[Output]:
    """A notification the fold decided: applied now, and appended (its copy changes nothing)."""
    if request.event_id in state["_seen"]:  # decided before (a second capture of a tip)
        return []
    remember(state, request)
    return [request, *_apply(state, request)]


def _apply(state: NotificationState, request: Event) -> list[Output]:
    body = request.body
    audience = "user" if body["audience"] == "user" and body.get("recipient_id") else "followers"
    notification = Notification(
        notification_id=body["notification_id"],
        kind=body["kind"],
        stream_id=state["stream_id"],
        audience=audience,
        recipient_id=body.get("recipient_id") if audience == "user" else None,
        occurred_at=request.occurred_at_ms,
        payload=dict(body.get("payload") or {}),
    )
    kept = state["notifications"]
    kept.append(notification)
    kept.sort(key=lambda n: (n["occurred_at"], n["notification_id"]))
    del kept[:-KEPT]
    return [
        Notice(CHANNEL, state["stream_id"], notification["kind"], dict(notification)),
        Update(CHANNEL, state["stream_id"], view(state)),
    ]


def _on_requested(state: NotificationState, event: Event) -> list[Output]:
    return _apply(state, event)


def _on_follow(state: NotificationState, event: Event) -> list[Output]:
    following = event.type == FOLLOWED
    if following:
        state["followers"].setdefault(event.actor_id, event.occurred_at_ms)
    else:
        state["followers"].pop(event.actor_id, None)
    key = f"{state['stream_id']}/f/{event.actor_id}"
    value = {"stream_id": state["stream_id"], "user": event.actor_id, "following": following}
    return [Update(CHANNEL, key, value)]


def _on_stream(state: NotificationState, event: Event) -> list[Output]:
    body = event.body
    outputs: list[Output] = []
    if event.type == CREATED:
        state["streamer"] = event.actor_id
        state["scheduled_start"] = body.get("scheduled_start")
        for tip_id, at, payload in state["_untold_tips"]:  # its tips folded first (replay)
            outputs += _decided(state, _tip_request(state, tip_id, at, payload))
        state["_untold_tips"] = []
    if body.get("title") is not None:
        state["title"] = body["title"]
    if event.type == ENDED:
        state["scheduled_start"] = None
    return outputs


def _on_live(state: NotificationState, event: Event) -> list[Output]:
    state["scheduled_start"] = None
    payload = {"title": state["title"], "streamer": state["streamer"] or ""}
    request = _request(state, STREAM_LIVE, event.event_id, event.occurred_at_ms, payload, None)
    return _decided(state, request)


def _on_message(state: NotificationState, event: Event) -> list[Output]:
    body = event.body
    message_id = body["message_id"]
    state["_authors"][message_id] = event.actor_id
    state["_authors"] = bounded(state["_authors"], RECENT_KEPT)
    verdict = state["_verdicts"].pop(message_id, None)
    author = state["_authors"].get(body.get("reply_to") or "")
    if author is None or author == event.actor_id:
        return []
    reply = Reply(at=event.occurred_at_ms, replier=event.actor_id, author=author)
    return _judged(state, message_id, reply, verdict)


def _on_verdict(state: NotificationState, event: Event) -> list[Output]:
    """A reply is told once moderation allowed it (a held one waits for a moderator's word, a
    blocked one is never told); the verdicts may come before the message (another topic)."""
    message_id, verdict = event.body["message_id"], event.body["verdict"]
    reply = state["_replies"].get(message_id)
    if reply is not None:
        return _judged(state, message_id, reply, verdict)
    if message_id not in state["_authors"]:
        state["_verdicts"][message_id] = verdict  # the latest, in the moderation topic's order
        state["_verdicts"] = bounded(state["_verdicts"], RECENT_KEPT)
    return []


def _judged(
    state: NotificationState, message_id: str, reply: Reply, verdict: str | None
) -> list[Output]:
    if verdict in (None, "hold"):
        state["_replies"][message_id] = reply
        state["_replies"] = bounded(state["_replies"], RECENT_KEPT)
        return []
    state["_replies"].pop(message_id, None)
    if verdict != "allow":
        return []
    payload = {"from": reply["replier"], "message_id": message_id}
    request = _request(state, CHAT_REPLY, message_id, reply["at"], payload, reply["author"])
    return _decided(state, request)


def _on_tip_intent(state: NotificationState, event: Event) -> list[Output]:
    state["_tippers"][event.body["tip_id"]] = event.actor_id
    state["_tippers"] = bounded(state["_tippers"], RECENT_KEPT)
    return []


def _on_tip_captured(state: NotificationState, event: Event) -> list[Output]:
    body = event.body
    payload = {
        "tip_id": body["tip_id"],
        "from": state["_tippers"].get(body["tip_id"], ""),
        "amount_minor": str(body["amount_minor"]),
        "currency": body["currency"],
    }
    if state["streamer"] is None:  # the stream's Created is on another topic, not folded yet
        state["_untold_tips"].append([body["tip_id"], event.occurred_at_ms, payload])
        return []
    return _decided(state, _tip_request(state, body["tip_id"], event.occurred_at_ms, payload))


def _tip_request(state: NotificationState, tip_id: str, at: int, payload: dict[str, str]) -> Event:
    return _request(state, TIP_RECEIVED, tip_id, at, payload, state["streamer"])


_HANDLERS = {
    REQUESTED: _on_requested,
    FOLLOWED: _on_follow,
    UNFOLLOWED: _on_follow,
    CREATED: _on_stream,
    SETTINGS_CHANGED: _on_stream,
    ENDED: _on_stream,
    WENT_LIVE: _on_live,
    MESSAGE_SENT: _on_message,
    VERDICT_ISSUED: _on_verdict,
    TIP_INTENT: _on_tip_intent,
    TIP_CAPTURED: _on_tip_captured,
}
