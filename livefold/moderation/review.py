"""Human review: viewers flag messages into the review queue; moderators approve (a held
message is released to chat, late but in its place; flags are dismissed) or reject (a held
message stays out, a shown one is deleted), and may time out or ban the author in the same
action. Every decision is written to the mod log."""

from __future__ import annotations

from typing import Any

from livefold.folding import Notice, Output, Refused
from livefold.moderation.actions import ban, time_out
from livefold.moderation.derived_events import emitted, verdict
from livefold.moderation.handlers import handles, not_moderator, protected
from livefold.moderation.rules import Verdict
from livefold.moderation.state import ModerationState
from livefold.moderation.views import (
    CHANNEL,
    log,
    modlog_update,
    queue_update,
    restrictions_update,
)
from streams.events import Event


def flag_score(flags: int) -> float:
    """More independent reporters, more urgent: 0.5, 0.75, 0.875 ..."""
    return round(1.0 - 0.5**flags, 4)


@handles("livefold.moderation.MessageFlagged")
def _flagged(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    body = event.body
    message_id = str(body["message_id"])
    message = state["messages"].get(message_id)
    if message is None:
        raise Refused(f"message {message_id} is unknown here (too old, or elsewhere)")
    if message["verdict"] == Verdict.BLOCK.value:
        raise Refused(f"message {message_id} was removed already")
    reporter = str(body.get("reporter") or event.actor_id)
    item = state["queue"].get(message_id)
    if item is None:
        item = state["queue"][message_id] = {
            "message_id": message_id,
            "user_id": message["user_id"],
            "text": message["text"],
            "sent_at": message["sent_at"],
            "held": False,
            "rule": "flagged",
            "score": 0.0,
            "detail": "",
            "flags": [],
        }
    if any(flag["reporter"] == reporter for flag in item["flags"]):
        raise Refused(f"{reporter} flagged message {message_id} already")
    item["flags"].append(
        {
            "reporter": reporter,
            "reason": str(body.get("reason") or "other"),
            "note": body.get("note"),
            "at": event.occurred_at_ms,
        }
    )
    item["score"] = max(item["score"], flag_score(len(item["flags"])))
    state["_queue_changed"] = True
    return [Notice(CHANNEL, state["stream_id"], "flagged", item)]


@handles("livefold.moderation.MessageReviewed")
def _reviewed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    if not_moderator(state, platform, event):
        raise Refused(f"{event.actor_id} may not moderate this stream")
    body = event.body
    message_id = str(body["message_id"])
    item = state["queue"].get(message_id)
    if item is None:
        raise Refused(f"message {message_id} is not awaiting review")
    author = str(item["user_id"])
    timeout_until = body.get("timeout_until")
    ban_author = bool(body.get("ban_author"))
    if timeout_until is not None or ban_author:
        why = protected(state, platform, event, author)
        if why:
            raise Refused(why)
    decision = str(body.get("decision"))
    if decision not in ("approve", "reject"):
        raise Refused(f"decision must be approve or reject, not {decision!r}")
    reason = body.get("reason")
    outputs: list[Output] = _decide(state, event, item, decision)
    log(state, event, decision, message_id, reason, f"author {author}")
    outputs += _act_on_author(state, event, author, timeout_until, ban_author, reason)
    del state["queue"][message_id]
    return [*outputs, queue_update(state), modlog_update(state)]


def _decide(
    state: ModerationState, event: Event, item: dict[str, Any], decision: str
) -> list[Output]:
    message_id = item["message_id"]
    message = state["messages"].get(message_id)
    actor = event.actor_id
    if decision == "approve":
        if not item["held"]:
            return []  # flags dismissed; the message stays as it is
        if message is not None:
            message["verdict"] = Verdict.ALLOW.value
        return [verdict(event, message_id, Verdict.ALLOW, "moderator", item["score"], actor)]
    if message is not None:
        message["verdict"] = Verdict.BLOCK.value
    if item["held"]:
        return [verdict(event, message_id, Verdict.BLOCK, "moderator", item["score"], actor)]
    return [
        emitted(
            event,
            "delete",
            "livefold.chat.MessageDeleted",
            actor,
            message_id=message_id,
            reason="moderator",
        )
    ]


def _act_on_author(
    state: ModerationState,
    event: Event,
    author: str,
    timeout_until: Any,
    ban_author: bool,
    reason: Any,
) -> list[Output]:
    actor = event.actor_id
    if ban_author:
        ban(state, event, author, reason)
        return [
            emitted(
                event, "ban", "livefold.moderation.UserBanned", actor, user_id=author, reason=reason
            ),
            restrictions_update(state),
        ]
    if timeout_until is not None:
        until = int(timeout_until)
        time_out(state, event, author, until, reason)
        return [
            emitted(
                event,
                "timeout",
                "livefold.moderation.UserTimedOut",
                actor,
                user_id=author,
                until=until,
                reason=reason,
            ),
            restrictions_update(state),
        ]
    return []
