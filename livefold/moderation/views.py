"""What the moderation fold publishes about a stream (its review queue, restrictions, rules,
staff, mod log), and the mod log's lines."""

from __future__ import annotations

from typing import Any

from livefold.folding import Update
from livefold.moderation.state import MAX_MODLOG, ModerationState, review_queue
from streams.events import Event

CHANNEL = "moderation"
QUEUE_PUBLISHED = 200  # oldest held/flagged messages in a published queue view
MODLOG_PUBLISHED = 100


def restrictions_update(state: ModerationState) -> Update:
    """Who may not write in the stream (key `<stream_id>/restrictions`): banned, timed out
    (until, epoch ms) or blocked by the streamer. The gateway refuses their writes with it."""
    value = {
        "stream_id": state["stream_id"],
        "banned": sorted(state["banned"]),
        "timeouts": dict(sorted(state["timeouts"].items())),
        "blocked_users": sorted(state["blocked_users"]),
    }
    return Update(CHANNEL, f"{state['stream_id']}/restrictions", value)


def queue_update(state: ModerationState) -> Update:
    queue = review_queue(state)
    value = {"stream_id": state["stream_id"], "size": len(queue), "items": queue[:QUEUE_PUBLISHED]}
    return Update(CHANNEL, state["stream_id"], value)


def modlog_update(state: ModerationState) -> Update:
    value = {"stream_id": state["stream_id"], "entries": state["modlog"][-MODLOG_PUBLISHED:]}
    return Update("modlog", state["stream_id"], value)


def rules_update(state: ModerationState) -> Update:
    """The stream's own rules (key `<stream_id>/rules`), for its moderators' control panel:
    blocked terms with how they match, allowed terms, filter settings, chat modes."""
    value = {
        "stream_id": state["stream_id"],
        "blocked_terms": dict(sorted(state["blocked_terms"].items())),
        "allowed_terms": sorted(state["allowed_terms"]),
        "filters": dict(state["settings"]),
        "chat_modes": dict(state["modes"]),
    }
    return Update(CHANNEL, f"{state['stream_id']}/rules", value)


def staff_update(state: ModerationState) -> Update:
    """Who may moderate the stream (key `<stream_id>/staff`): the gateway checks requests and
    subscriptions against it before they reach the log."""
    value = {
        "stream_id": state["stream_id"],
        "owner": state["owner"],
        "moderators": sorted(state["moderators"]),
        "admins": sorted(state["admins"]),
    }
    return Update(CHANNEL, f"{state['stream_id']}/staff", value)


def log(
    state: ModerationState,
    event: Event,
    action: str,
    target: str,
    reason: Any = None,
    detail: str = "",
    actor: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """One line of the mod log: who did what to whom, when and why (the rules' own actions
    are logged with actor "automod" and, in `extra`, the message, rule and score)."""
    state["modlog"].append(
        {
            "at": event.occurred_at_ms,
            "moderator": actor or event.actor_id,
            "action": action,
            "target": target,
            "reason": None if reason is None else str(reason),
            "detail": detail,
            "event_id": event.event_id,
            **(extra or {}),
        }
    )
    if len(state["modlog"]) > MAX_MODLOG:
        del state["modlog"][: len(state["modlog"]) - MAX_MODLOG]
