"""How moderator actions and the facts moderation depends on (stream owner, followers, chat
modes) change a stream's moderation state. Only the streamer, appointed moderators, platform
admins and the system may act; anyone else's action is refused and changes nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from livefold.folding import Output, Refused, Update
from livefold.moderation.normalize import fold as fold_words
from livefold.moderation.policy import ChatModes, SettingsOverride
from livefold.moderation.rules import Finding, RegexRejected, RegexRule, Verdict
from livefold.moderation.state import (
    MAX_MODLOG,
    PLATFORM,
    ModerationState,
    can_moderate,
    review_queue,
    rules_changed,
    settings_json,
)
from streams.events import SYSTEM_ACTOR, Event

CHANNEL = "moderation"
QUEUE_PUBLISHED = 200  # oldest held/flagged messages in a published queue view
MODLOG_PUBLISHED = 100
MAX_TERMS = 1_000
_EVENT_IDS = uuid.UUID("6c1f0e2a-3b7d-4f5e-9a61-0d2c8b7e4f10")  # namespace of derived ids
_EVENT_ID_PREFIX = _EVENT_IDS.bytes

Handler = Callable[[ModerationState, ModerationState, Event], list[Output]]
HANDLERS: dict[str, Handler] = {}


def handles(event_type: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[event_type] = handler
        return handler

    return register


def derived_id(cause_id: str, what: str) -> str:
    """uuid5(namespace, "<cause>/<what>"), formatted without building UUID objects (hot path)."""
    h = hashlib.sha1(_EVENT_ID_PREFIX + f"{cause_id}/{what}".encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 0x3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def emitted(cause: Event, what: str, event_type: str, actor: str, **payload: Any) -> Event:
    """An event the fold decides, with an id derived from its cause: replay emits it again
    with the same id, so it is deduplicated downstream."""
    return Event(
        event_type,
        {
            "event_id": derived_id(cause.event_id, what),
            "stream_id": cause.stream_id,
            "actor_id": actor,
            "occurred_at": cause.occurred_at_ms,
            "trace_id": cause.trace_id,
            **payload,
        },
    )


def verdict(
    cause: Event,
    message_id: str,
    decided: Verdict,
    rule: str,
    score: float,
    actor: str = SYSTEM_ACTOR,
) -> Event:
    return emitted(
        cause,
        "verdict",
        "livefold.moderation.VerdictIssued",
        actor,
        message_id=message_id,
        verdict=decided.value,
        rule=rule,
        score=float(score),
    )


def content_verdict(cause: Event, subject: str, subject_id: str, finding: Finding) -> Event:
    """The verdict on a text besides chat (`livefold.moderation.ContentJudged`)."""
    return emitted(
        cause,
        "judged",
        "livefold.moderation.ContentJudged",
        SYSTEM_ACTOR,
        subject=subject,
        subject_id=subject_id,
        author_id=cause.actor_id,
        verdict=finding.verdict.value,
        rule=finding.rule,
        score=float(finding.score),
    )


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


def not_moderator(state: ModerationState, platform: ModerationState, event: Event) -> bool:
    actor = event.actor_id
    return actor != SYSTEM_ACTOR and not can_moderate(state, actor, platform=platform)


def not_owner(state: ModerationState, platform: ModerationState, event: Event) -> bool:
    actor = event.actor_id
    return actor not in (SYSTEM_ACTOR, state["owner"]) and actor not in platform["admins"]


def protected(state: ModerationState, platform: ModerationState, event: Event, user: str) -> str:
    """Why the actor may not act on this user ("" if they may): nobody acts on the streamer,
    and only the streamer or an admin acts on a moderator."""
    if user == state["owner"]:
        return f"{user} is the streamer of {state['stream_id']}"
    if user in state["moderators"] and not_owner(state, platform, event):
        return f"{user} is a moderator; only the streamer or an admin may act on them"
    return ""


def _user_action(handler: Callable[[ModerationState, Event, str], list[Output]]) -> Handler:
    """A moderator acting on a user: permission and protection checks come first."""

    def checked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
        if not_moderator(state, platform, event):
            raise Refused(f"{event.actor_id} may not moderate this stream")
        user = str(event.body.get("user_id") or "")
        if not user:
            raise Refused("user_id is missing")
        why = protected(state, platform, event, user)
        if why:
            raise Refused(why)
        return handler(state, event, user)

    return checked


def time_out(state: ModerationState, event: Event, user: str, until: int, reason: Any) -> None:
    if user not in state["banned"]:
        state["timeouts"][user] = until
    log(state, event, "timeout", user, reason, f"until {until}")


def ban(state: ModerationState, event: Event, user: str, reason: Any) -> None:
    state["banned"][user] = {"at": event.occurred_at_ms, "by": event.actor_id, "reason": reason}
    state["timeouts"].pop(user, None)
    log(state, event, "ban", user, reason)


@handles("livefold.moderation.UserTimedOut")
@_user_action
def _timed_out(state: ModerationState, event: Event, user: str) -> list[Output]:
    time_out(state, event, user, int(event.body["until"]), event.body.get("reason"))
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.UserBanned")
@_user_action
def _banned(state: ModerationState, event: Event, user: str) -> list[Output]:
    ban(state, event, user, event.body.get("reason"))
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.UserUnbanned")
@_user_action
def _unbanned(state: ModerationState, event: Event, user: str) -> list[Output]:
    was_banned = user in state["banned"]
    if not was_banned and user not in state["timeouts"]:
        raise Refused(f"{user} is neither banned nor timed out")
    state["banned"].pop(user, None)
    state["timeouts"].pop(user, None)
    log(state, event, "unban" if was_banned else "untimeout", user, event.body.get("reason"))
    return [modlog_update(state), restrictions_update(state)]


def _owner_only(state: ModerationState, platform: ModerationState, event: Event) -> str:
    """The user the streamer's action is about; only the streamer or an admin may act."""
    if not_owner(state, platform, event):
        raise Refused(f"only the streamer or an admin may do that, not {event.actor_id}")
    return str(event.body["user_id"])


@handles("livefold.moderation.UserBlocked")
def _user_blocked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    user = _owner_only(state, platform, event)
    if user == state["owner"]:
        raise Refused("the streamer cannot block themselves")
    state["blocked_users"][user] = event.occurred_at_ms
    log(state, event, "block_user", user)
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.UserUnblocked")
def _user_unblocked(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    user = _owner_only(state, platform, event)
    if state["blocked_users"].pop(user, None) is None:  # nothing changed if it raises
        raise Refused(f"{user} is not blocked")
    log(state, event, "unblock_user", user)
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.ModeratorAppointed")
def _appointed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    user = _owner_only(state, platform, event)
    state["moderators"][user] = event.occurred_at_ms
    log(state, event, "appoint_moderator", user)
    return [modlog_update(state), staff_update(state)]


@handles("livefold.moderation.ModeratorRemoved")
def _removed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    user = _owner_only(state, platform, event)
    if state["moderators"].pop(user, None) is None:
        raise Refused(f"{user} is not a moderator")
    log(state, event, "remove_moderator", user)
    return [modlog_update(state), staff_update(state)]


def _moderator_only(handler: Handler) -> Handler:
    def checked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
        if not_moderator(state, platform, event):
            raise Refused(f"{event.actor_id} may not moderate this stream")
        return handler(state, platform, event)

    return checked


@handles("livefold.moderation.TermBlocked")
@_moderator_only
def _term_blocked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    term = str(event.body["term"])
    match = str(event.body.get("match") or "word")
    if match == "regex":
        try:
            RegexRule.compile(term)
        except RegexRejected as error:
            raise Refused(str(error)) from None
    elif not fold_words(term):
        raise Refused(f"term {term!r} has no letters or digits to match")
    if term not in state["blocked_terms"] and len(state["blocked_terms"]) >= MAX_TERMS:
        raise Refused(f"a stream blocks at most {MAX_TERMS} terms")
    state["blocked_terms"][term] = match
    rules_changed(state)
    log(state, event, "block_term", term, detail=match)
    return [modlog_update(state), rules_update(state)]


@handles("livefold.moderation.TermUnblocked")
@_moderator_only
def _term_unblocked(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    return _drop_term(state, event, "blocked_terms", "unblock_term", "blocked")


@handles("livefold.moderation.TermAllowed")
@_moderator_only
def _term_allowed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    term = str(event.body["term"])
    if not fold_words(term):
        raise Refused(f"term {term!r} has no letters or digits to match")
    if term not in state["allowed_terms"] and len(state["allowed_terms"]) >= MAX_TERMS:
        raise Refused(f"a stream allows at most {MAX_TERMS} terms")
    state["allowed_terms"][term] = event.occurred_at_ms
    rules_changed(state)
    log(state, event, "allow_term", term)
    return [modlog_update(state), rules_update(state)]


@handles("livefold.moderation.TermDisallowed")
@_moderator_only
def _term_disallowed(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    return _drop_term(state, event, "allowed_terms", "disallow_term", "allowed")


def _drop_term(
    state: ModerationState,
    event: Event,
    terms: Literal["blocked_terms", "allowed_terms"],
    action: str,
    listed: str,
) -> list[Output]:
    """Take the event's term off the stream's `terms` list (blocked or allowed)."""
    term = str(event.body["term"])
    if state[terms].pop(term, None) is None:
        raise Refused(f"term {term!r} is not {listed} here")
    rules_changed(state)
    log(state, event, action, term)
    return [modlog_update(state), rules_update(state)]


def set_modes(state: ModerationState, event: Event, modes: dict[str, Any]) -> list[Output]:
    state["modes"] = asdict(ChatModes.from_body(modes))
    rules_changed(state)
    detail = ", ".join(f"{name}={value}" for name, value in state["modes"].items())
    log(state, event, "chat_modes", state["stream_id"], detail=detail)
    return [modlog_update(state), rules_update(state)]


@handles("livefold.moderation.ChatModeChanged")
@_moderator_only
def _chat_modes(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    return set_modes(state, event, event.body)


@handles("livefold.moderation.FilterSettingsChanged")
@_moderator_only
def _filter_settings(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    try:
        change = SettingsOverride.from_body(event.body)
    except (ValueError, TypeError) as error:
        raise Refused(f"invalid filter settings: {error}") from None
    state["settings"] = settings_json(SettingsOverride.from_body(state["settings"]).merged(change))
    rules_changed(state)
    detail = ", ".join(f"{k}={v}" for k, v in settings_json(change).items())
    log(state, event, "filter_settings", state["stream_id"], detail=detail)
    return [modlog_update(state), rules_update(state)]


@handles("livefold.stream.Created")
def _stream_created(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    if state["owner"] is None and state["stream_id"] != PLATFORM:
        state["owner"] = event.actor_id
        return [staff_update(state)]
    return []


@handles("livefold.stream.SettingsChanged")
def _stream_settings(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    modes = event.body.get("chat_modes")
    if modes is None:
        return []
    if not_moderator(state, platform, event):
        raise Refused(f"{event.actor_id} may not change chat modes")
    return set_modes(state, event, modes)


@handles("livefold.audience.Followed")
def _followed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    state["followers"].setdefault(event.actor_id, event.occurred_at_ms)
    return []


@handles("livefold.audience.Unfollowed")
def _unfollowed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    state["followers"].pop(event.actor_id, None)
    return []
