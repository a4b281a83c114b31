"""The moderation state of one stream, a plain JSON dict (see `livefold.folding`), and what can be
read from it: who may moderate, the review queue, and the compiled rules in force.

The state keyed `PLATFORM` holds the platform-wide defaults set by admins (filter settings,
blocked and allowed terms) and the platform admins; every stream's own settings override the
defaults field by field, its terms add to them, and its allowed terms override both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from livefold.moderation.policy import ChatModes, FilterSettings, SettingsOverride
from livefold.moderation.rules import RegexRejected, RegexRule, RegexRules, TermList
from livefold.moderation.spam import HistoryIndex

PLATFORM = "platform"
ADMIN = "admin"
MAX_RECENT_MESSAGES = 2_000  # kept per stream so flags and reviews can show the message
MAX_MODLOG = 500  # entries kept in the state; the event topic keeps every action forever
MAX_ACTIVE_USERS = 10_000  # per-user message history is swept of idle users past this


class ModerationState(TypedDict):
    stream_id: str
    owner: str | None  # the streamer, from the stream's Created event
    moderators: dict[str, int]  # user -> appointed at (epoch ms)
    admins: dict[str, int]  # platform admins (kept in the PLATFORM state)
    settings: dict[str, Any]  # filter settings this stream (or the platform) set
    modes: dict[str, Any]  # ChatModes fields
    blocked_terms: dict[str, str]  # term -> "word" | "substring" | "regex"
    allowed_terms: dict[str, int]  # term -> allowed since
    banned: dict[str, dict[str, Any]]  # user -> {at, by, reason}
    timeouts: dict[str, int]  # user -> may chat again at
    blocked_users: dict[str, int]  # the streamer's blocked users -> since
    followers: dict[str, int]  # user -> followed at
    messages: dict[str, dict[str, Any]]  # recent messages by id
    queue: dict[str, dict[str, Any]]  # held or flagged messages awaiting a moderator
    modlog: list[dict[str, Any]]
    _seen: dict[str, None]
    _rules: str  # digest of settings, modes and terms: the key of the compiled rules
    _queue_changed: bool  # the queue view is owed to subscribers (see fold.flush)
    _modlog_changed: NotRequired[bool]  # the rules logged actions since the last mod log view
    _swept_at: int  # when idle users' histories were last swept (event time)
    # user -> [[sent at, fingerprint of the folded words], ...] of messages not blocked. Not a
    # fact: replay cannot rebuild the fingerprint of a text erased since (its key is gone).
    _activity: dict[str, list[list[Any]]]
    _activity_index: dict[str, HistoryIndex]  # each user's history indexed (`spam.flooding`)


def new_state(stream_id: str) -> ModerationState:
    state = ModerationState(
        stream_id=stream_id,
        owner=None,
        moderators={},
        admins={},
        settings={},
        modes={},
        blocked_terms={},
        allowed_terms={},
        banned={},
        timeouts={},
        blocked_users={},
        followers={},
        messages={},
        queue={},
        modlog=[],
        _seen={},
        _rules="",
        _queue_changed=False,
        _modlog_changed=False,
        _swept_at=0,
        _activity={},
        _activity_index={},
    )
    rules_changed(state)
    return state


def can_moderate(
    state: ModerationState,
    user_id: str,
    roles: Collection[str] = (),
    platform: ModerationState | None = None,
) -> bool:
    """The streamer, moderators the streamer appointed, and platform admins (by the caller's
    roles or by the platform state) may moderate; viewers may not."""
    if not user_id:
        return False
    return (
        ADMIN in roles
        or user_id == state["owner"]
        or user_id in state["moderators"]
        or user_id in state["admins"]
        or (platform is not None and user_id in platform["admins"])
    )


def review_queue(state: ModerationState, by: str = "time") -> list[dict[str, Any]]:
    """Held and flagged messages: oldest first (ties: higher score first), or by="score"."""
    items = list(state["queue"].values())
    if by == "score":
        items.sort(key=lambda item: (-item["score"], item["sent_at"], item["message_id"]))
    elif by == "time":
        items.sort(key=lambda item: (item["sent_at"], -item["score"], item["message_id"]))
    else:
        raise ValueError(f"review queue order must be 'time' or 'score', not {by!r}")
    return items


def rules_changed(state: ModerationState) -> None:
    """Call after changing settings, modes or terms: names the compiled rules to use."""
    content = json.dumps(
        [state["settings"], state["modes"], state["blocked_terms"], sorted(state["allowed_terms"])],
        sort_keys=True,
    )
    state["_rules"] = hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()


EMPTY_PLATFORM = new_state(PLATFORM)


@dataclass(frozen=True)
class Rules:
    blocked: TermList
    allowed: TermList
    regexes: RegexRules | None
    settings: FilterSettings
    modes: ChatModes

    @property
    def lookback_ms(self) -> int:
        """How far back a user's messages matter to the duplicate, rate and slow-mode rules."""
        settings = self.settings
        seconds = max(
            settings.duplicate_window_seconds, settings.rate_limit_seconds, self.modes.slow_seconds
        )
        return seconds * 1000


_COMPILED: dict[tuple[str, str], Rules] = {}
_COMPILED_MAX = 4_096


def rules_in_force(state: ModerationState, platform: ModerationState) -> Rules:
    key = (state["_rules"], platform["_rules"])
    rules = _COMPILED.get(key)
    if rules is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        rules = _COMPILED[key] = _compile(state, platform)
    return rules


def _compile(state: ModerationState, platform: ModerationState) -> Rules:
    allowed = {**platform["allowed_terms"], **state["allowed_terms"]}
    terms = {
        term: match
        for source in (platform, state)
        for term, match in source["blocked_terms"].items()
        if term not in allowed
    }
    regexes = []
    for term, match in terms.items():
        if match == "regex":
            try:
                regexes.append(RegexRule.compile(term))
            except RegexRejected:
                continue  # refused when it was blocked; an older log may still hold one
    defaults = SettingsOverride.from_body(platform["settings"]).over(FilterSettings())
    return Rules(
        blocked=TermList.build(
            (t for t, m in terms.items() if m == "word"),
            (t for t, m in terms.items() if m == "substring"),
        ),
        allowed=TermList.build(allowed),
        regexes=RegexRules.compile(regexes),
        settings=SettingsOverride.from_body(state["settings"]).over(defaults),
        modes=ChatModes.from_body(state["modes"]),
    )


def settings_json(override: SettingsOverride) -> dict[str, Any]:
    """A settings override as stored in the state (JSON types only, unset fields left out)."""
    stored: dict[str, Any] = {}
    for name in SettingsOverride.__dataclass_fields__:
        value = getattr(override, name)
        if value is None:
            continue
        if isinstance(value, frozenset):
            value = sorted(value)
        elif name == "classifier_level":
            value = str(value)
        elif name == "category_levels":
            value = {category: str(level) for category, level in sorted(value.items())}
        stored[name] = value
    return stored
