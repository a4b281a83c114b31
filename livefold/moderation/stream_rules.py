"""A stream's own rules, changed by its moderators: blocked and allowed terms, chat modes,
filter settings."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from livefold.folding import Output, Refused
from livefold.moderation.handlers import handles, moderator_only
from livefold.moderation.normalize import fold as fold_words
from livefold.moderation.policy import ChatModes, SettingsOverride
from livefold.moderation.rules import RegexRejected, RegexRule
from livefold.moderation.state import ModerationState, rules_changed, settings_json
from livefold.moderation.views import log, modlog_update, rules_update
from streams.events import Event

MAX_TERMS = 1_000


@handles("livefold.moderation.TermBlocked")
@moderator_only
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
@moderator_only
def _term_unblocked(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    return _drop_term(state, event, "blocked_terms", "unblock_term", "blocked")


@handles("livefold.moderation.TermAllowed")
@moderator_only
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
@moderator_only
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
@moderator_only
def _chat_modes(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    return set_modes(state, event, event.body)


@handles("livefold.moderation.FilterSettingsChanged")
@moderator_only
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
