"""Chat per stream: the messages viewers may see, in order, with the pinned message.

Moderation gates publication. A sent message is published to the chat channel only once the
moderation verdict for its `message_id` is `allow`; the verdict is a
`livefold.moderation.VerdictIssued` event, folded here through `judge`:

    judge(state, message_id, verdict, at) -> outputs    verdict: "allow" | "hold" | "block"

- allow: publish (a `Notice` of kind "message", and the chat `Update`);
- hold: keep the message back until a later allow (a moderator approving it) releases it;
  a published message that is held again is withdrawn (a "removed" notice);
- block: drop it for good, as a deletion does; nothing brings it back.

The latest verdict for a message wins. Verdicts and messages travel on different topics, so
either may be folded first: a verdict for a message not seen yet waits for it. Published
messages are kept in order of their own `occurred_at` (then id), so a message released late
takes its place in history, and the state is the same whichever topic is read first (unless
one of the bounded waiting lists overflows).

The state keeps the newest `RECENT_LIMIT` published messages for history and resume; the view's
`from_first` says whether they still begin with the stream's first (none were dropped for newer).
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from livefold.folding import Notice, Output, Refused, Update, apply, bounded
from streams.events import Event

CHANNEL = "chat"
MESSAGE_SENT = "livefold.chat.MessageSent"
MESSAGE_DELETED = "livefold.chat.MessageDeleted"
MESSAGE_PINNED = "livefold.chat.MessagePinned"
VERDICT_ISSUED = "livefold.moderation.VerdictIssued"
HANDLES = frozenset({MESSAGE_SENT, MESSAGE_DELETED, MESSAGE_PINNED, VERDICT_ISSUED})
FLUSH_EVERY: float | None = None

RECENT_LIMIT = 200
WAITING_LIMIT = 10_000  # messages without allow, early verdicts and removed ids each


class Message(TypedDict):
    message_id: str
    author: str
    text: str
    reply_to: str | None
    emotes: list[dict[str, Any]]
    at: int  # occurred_at, epoch ms


class Pin(TypedDict):
    message: Message
    until: int | None
    shown: bool  # the pinned message is published (allowed)


class ChatState(TypedDict):
    stream_id: str
    recent: list[Message]  # published, oldest first by (at, message_id)
    shown: dict[str, int]  # ids of the messages in recent -> at
    waiting: dict[str, Message]  # sent, without an allow verdict yet (none, or hold)
    verdicts: dict[str, str]  # latest verdict of a waiting or not yet seen message
    removed: dict[str, int]  # deleted or blocked message ids -> when
    pinned: Pin | None
    clock: int  # latest occurred_at of a chat event (pins expire by it)
    trimmed: NotRequired[bool]  # the oldest of recent were dropped (absent: stored before)
    _seen: dict[str, None]
    _published: int  # publications so far (not a fact: it depends on which topic came first)


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: ChatState | None, event: Event) -> tuple[ChatState, list[Output]]:
    if state is None:
        state = ChatState(
            stream_id=event.stream_id,
            recent=[],
            shown={},
            waiting={},
            verdicts={},
            removed={},
            pinned=None,
            clock=0,
            trimmed=False,
            _seen={},
            _published=0,
        )
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: ChatState, now: datetime) -> tuple[ChatState, list[Output]]:
    return state, []


def judge(state: ChatState, message_id: str, verdict: str, at: int) -> list[Output]:
    """Apply moderation's verdict on a message (see the module doc)."""
    if verdict not in ("allow", "hold", "block"):
        raise Refused(f"unknown verdict {verdict!r}; expected allow, hold or block")
    if message_id in state["removed"]:
        return []
    if verdict == "block":
        return _remove(state, message_id, at, "removed")
    waiting = state["waiting"].get(message_id)
    if verdict == "allow":
        if waiting is not None:
            del state["waiting"][message_id]
            state["verdicts"].pop(message_id, None)
            return _publish(state, waiting)
        if message_id not in state["shown"]:
            _remember_verdict(state, message_id, verdict)
        return []
    _remember_verdict(state, message_id, verdict)
    message = _take(state, message_id)
    if message is None:
        return []
    _wait(state, message)
    _show_pin(state, message_id, False)
    return _removed(state, message_id, "removed")


def view(state: ChatState) -> dict[str, Any]:
    pin = state["pinned"]
    return {
        "stream_id": state["stream_id"],
        "messages": list(state["recent"]),
        "pinned": pin["message"] if pin is not None and pin["shown"] else None,
        "pinned_until": pin["until"] if pin is not None and pin["shown"] else None,
        "published": state["_published"],
        "from_first": not state.get("trimmed", len(state["recent"]) >= RECENT_LIMIT),
    }


def _on_sent(state: ChatState, event: Event) -> list[Output]:
    body = event.body
    message = Message(
        message_id=body["message_id"],
        author=event.actor_id,
        text=body["text"],
        reply_to=body.get("reply_to"),
        emotes=list(body.get("emotes") or []),
        at=event.occurred_at_ms,
    )
    message_id = message["message_id"]
    if message_id in state["waiting"] or message_id in state["shown"]:
        raise Refused(f"message id {message_id} was already used")
    outputs = _tick(state, message["at"])
    if message_id in state["removed"]:
        return outputs
    verdict = state["verdicts"].pop(message_id, None)
    if verdict == "allow":
        return outputs + _publish(state, message)
    if verdict == "block":
        return outputs + _remove(state, message_id, message["at"], "removed")
    _wait(state, message)
    if verdict == "hold":
        _remember_verdict(state, message_id, verdict)
    return outputs


def _on_verdict(state: ChatState, event: Event) -> list[Output]:
    body = event.body
    return judge(state, str(body["message_id"]), str(body["verdict"]), event.occurred_at_ms)


def _on_deleted(state: ChatState, event: Event) -> list[Output]:
    outputs = _tick(state, event.occurred_at_ms)
    return outputs + _remove(state, event.body["message_id"], event.occurred_at_ms, "deleted")


def _on_pinned(state: ChatState, event: Event) -> list[Output]:
    body = event.body
    message_id: str = body["message_id"]
    pin = state["pinned"]
    if not body["pinned"]:
        if pin is None or pin["message"]["message_id"] != message_id:
            raise Refused(f"message {message_id} is not pinned")
        _tick(state, event.occurred_at_ms)
        state["pinned"] = None
        return [_update(state)]
    if message_id in state["removed"]:
        raise Refused(f"message {message_id} was removed from chat")
    shown = message_id in state["shown"]
    message = _recent(state, message_id) if shown else state["waiting"].get(message_id)
    if message is None:
        raise Refused(f"message {message_id} is not in the recent chat")
    _tick(state, event.occurred_at_ms)
    state["pinned"] = Pin(message=message, until=body.get("until"), shown=shown)
    return [_update(state)]


def _tick(state: ChatState, at: int) -> list[Output]:
    """Advance the chat clock; a pin whose time is up goes."""
    if at > state["clock"]:
        state["clock"] = at
    pin = state["pinned"]
    if pin is not None and pin["until"] is not None and pin["until"] <= state["clock"]:
        state["pinned"] = None
        return [_update(state)] if pin["shown"] else []
    return []


def _publish(state: ChatState, message: Message) -> list[Output]:
    recent = state["recent"]
    if recent and (message["at"], message["message_id"]) < _order(recent[-1]):
        bisect.insort(recent, message, key=_order)  # released late: in place by time
    else:
        recent.append(message)
    state["shown"][message["message_id"]] = message["at"]
    if len(recent) > RECENT_LIMIT:
        del state["shown"][recent.pop(0)["message_id"]]
        state["trimmed"] = True
    state["_published"] += 1
    _show_pin(state, message["message_id"], True)
    return [Notice(CHANNEL, state["stream_id"], "message", dict(message)), _update(state)]


def _remove(state: ChatState, message_id: str, at: int, kind: str) -> list[Output]:
    state["removed"][message_id] = at
    state["removed"] = bounded(state["removed"], WAITING_LIMIT)
    state["waiting"].pop(message_id, None)
    state["verdicts"].pop(message_id, None)
    pin = state["pinned"]
    unpinned = pin is not None and pin["message"]["message_id"] == message_id
    if unpinned:
        state["pinned"] = None
    if _take(state, message_id) is None:
        return [_update(state)] if unpinned and pin is not None and pin["shown"] else []
    return _removed(state, message_id, kind)


def _removed(state: ChatState, message_id: str, kind: str) -> list[Output]:
    notice = Notice(CHANNEL, state["stream_id"], kind, {"message_id": message_id})
    return [notice, _update(state)]


def _wait(state: ChatState, message: Message) -> None:
    state["waiting"][message["message_id"]] = message
    state["waiting"] = bounded(state["waiting"], WAITING_LIMIT)


def _remember_verdict(state: ChatState, message_id: str, verdict: str) -> None:
    state["verdicts"][message_id] = verdict
    state["verdicts"] = bounded(state["verdicts"], WAITING_LIMIT)


def _show_pin(state: ChatState, message_id: str, shown: bool) -> None:
    pin = state["pinned"]
    if pin is not None and pin["message"]["message_id"] == message_id:
        pin["shown"] = shown


def _order(message: Message) -> tuple[int, str]:
    return message["at"], message["message_id"]


def _recent(state: ChatState, message_id: str) -> Message | None:
    index = _index(state, message_id)
    return None if index is None else state["recent"][index]


def _take(state: ChatState, message_id: str) -> Message | None:
    """Withdraw a message from the recent chat, if it is there."""
    index = _index(state, message_id)
    if index is None:
        return None
    del state["shown"][message_id]
    return state["recent"].pop(index)


def _index(state: ChatState, message_id: str) -> int | None:
    at = state["shown"].get(message_id)
    if at is None:
        return None
    return bisect.bisect_left(state["recent"], (at, message_id), key=_order)


def _update(state: ChatState) -> Update:
    return Update(CHANNEL, state["stream_id"], view(state))


_HANDLERS = {
    MESSAGE_SENT: _on_sent,
    MESSAGE_DELETED: _on_deleted,
    MESSAGE_PINNED: _on_pinned,
    VERDICT_ISSUED: _on_verdict,
}
