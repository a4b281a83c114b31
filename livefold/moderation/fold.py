"""The moderation fold: `fold(state, event) -> (state, outputs)` in the shape of
`livefold.folding`, keyed by stream (platform-wide settings and admins under `PLATFORM`).

A chat message yields a VerdictIssued event decided from the message and the state at that
point in the log; a tip's message or a clip's title, a ContentJudged by the same rules (chat
modes and flooding aside); moderator actions change the state, are written to the mod log, and may
yield events themselves (an approved held message is released with an allow verdict, a
review may time out or ban the author). Emitted events get ids derived from the event that
caused them, so a replay emits the very same events and their consumers dedupe them; the
fold applies what it emits at once and ignores those events when they come back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, cast

from livefold.folding import Notice, Output, Refused, ToAuthor, apply, bounded

# actions, review and stream_rules register their handlers in handlers.HANDLERS
from livefold.moderation import actions, derived_events, review, stream_rules  # noqa: F401
from livefold.moderation.explain import AUTOMOD, NOT_LOGGED, to_author
from livefold.moderation.handlers import HANDLERS
from livefold.moderation.normalize import Text, check
from livefold.moderation.rules import Finding, Verdict
from livefold.moderation.spam import appended, current, dropped, history_index
from livefold.moderation.state import (
    EMPTY_PLATFORM,
    MAX_ACTIVE_USERS,
    MAX_RECENT_MESSAGES,
    PLATFORM,
    ModerationState,
    new_state,
    rules_in_force,
)
from livefold.moderation.toxicity import Scorer
from livefold.moderation.verdicts import (
    Decision,
    decide,
    decide_text,
    duplicate_key,
    plain_fingerprint,
)
from livefold.moderation.views import log, modlog_update, queue_update, staff_update
from streams.events import Event

CHANNEL = "moderation"
SWEEP_EVERY_MS = 60_000  # with many active users, idle ones are forgotten at most this often
FLUSH_EVERY: float | None = 0.1  # held and flagged messages reach the queue view this often
# Rebuilt from `_activity` by the next fold when missing (`fold`): about as large as the
# histories, so a changelog view leaves it out (`agents.state_records`) rather than encode it
# every batch. Only a check's speed depends on it, never a verdict.
REBUILT_FIELDS = ("_activity_index",)
MESSAGE_SENT = "livefold.chat.MessageSent"
CONTENT_JUDGED = "livefold.moderation.ContentJudged"
# Texts others see besides chat, judged by chat's rules: event type -> (subject, id, text field)
JUDGED_TEXTS = {
    "livefold.tips.TipIntentCreated": ("tip_message", "tip_id", "message"),
    "livefold.media.ClipCreated": ("clip_title", "clip_id", "title"),
}
ROLE_EVENTS = frozenset({"livefold.accounts.RoleGranted", "livefold.accounts.RoleRevoked"})
HANDLES = frozenset({MESSAGE_SENT, *JUDGED_TEXTS, *ROLE_EVENTS, *HANDLERS})


def key_of(event: Event) -> str:
    if event.type in ROLE_EVENTS:
        return PLATFORM  # account events are keyed by user; admins are platform-wide
    return event.stream_id


class Texts(Protocol):
    """Texts sealed with their author's key (`livefold.data_keys.TextOpener`)."""

    def open(self, value: str | None) -> str | None:
        """The text (None: erased); a text that is not sealed as it is."""
        ...

    def fingerprint(self, value: str, words: str) -> str:
        """A hash of a sealed text's folded words, keyed with its author's key."""
        ...


class AsWritten:
    """Texts as they are written (no keys here): tests, and a log without sealed texts."""

    def open(self, value: str | None) -> str | None:
        return value

    def fingerprint(self, value: str, words: str) -> str:
        return plain_fingerprint(words)


AS_WRITTEN = AsWritten()
ERASED = Finding("erased", Verdict.BLOCK, 0.0)


def fold(
    state: ModerationState | None,
    event: Event,
    platform: ModerationState | None = None,
    classifier: Scorer | None = None,
    texts: Texts = AS_WRITTEN,
    logged: Finding | None = None,
) -> tuple[ModerationState, list[Output]]:
    """Apply one event. `platform` is the PLATFORM state (its defaults and admins); a driver
    passes the one it keeps, tests may leave it out (no platform defaults). `texts` opens what
    was sealed with its author's key. `logged`: the verdict the log holds for this chat message,
    which replay passes so that a message erased since is folded as it was judged."""
    key = key_of(event)
    if state is None:
        state = new_state(key)
    elif "_activity" not in state:  # a state from before fingerprints held the words
        cast(dict[str, Any], state).pop("activity", None)
        state["_activity"] = {}
    if "_activity_index" not in state:  # a state from before the histories were indexed
        activity = state["_activity"]
        state["_activity_index"] = {user: history_index(activity[user]) for user in activity}
    if platform is None:
        platform = state if state["stream_id"] == PLATFORM else EMPTY_PLATFORM
    given = platform

    def handle(state: Any, event: Event) -> list[Output]:
        if event.type == MESSAGE_SENT:
            return _message_sent(state, given, event, classifier, texts, logged)
        if event.type in JUDGED_TEXTS:
            return _text_judged(state, given, event, classifier, texts)
        if event.type in ROLE_EVENTS:
            return _role(state, event)
        return HANDLERS[event.type](state, given, event)

    outputs = apply(cast(dict[str, Any], state), event, {event.type: handle}, CHANNEL, key)
    seen = state["_seen"]
    for output in outputs:
        if isinstance(output, Event):
            seen[output.event_id] = None  # applied already: ignored when it comes back
    return state, outputs


def flush(state: ModerationState, now: datetime) -> tuple[ModerationState, list[Output]]:
    """The review queue view, if messages were held or flagged since the last one (sorting a
    long queue for every held message would cost more than judging the message), and the mod
    log view if the rules logged what they did (a line per blocked message adds up)."""
    outputs: list[Output] = []
    if state["_queue_changed"]:
        state["_queue_changed"] = False
        outputs.append(queue_update(state))
    if state.get("_modlog_changed"):
        state["_modlog_changed"] = False
        outputs.append(modlog_update(state))
    return state, outputs


def _message_sent(
    state: ModerationState,
    platform: ModerationState,
    event: Event,
    classifier: Scorer | None,
    texts: Texts,
    logged: Finding | None,
) -> list[Output]:
    body = event.body
    message_id = str(body.get("message_id") or event.event_id)
    author = event.actor_id
    now = event.occurred_at_ms
    if message_id in state["messages"]:
        raise Refused(f"message {message_id} was judged already")
    decision, sealed = _judged(state, platform, event, classifier, texts, logged)
    finding = decision.finding
    outputs: list[Output] = [
        derived_events.verdict(event, message_id, finding.verdict, finding.rule, finding.score)
    ]
    # A sealed text is kept sealed (the gateway opens it for moderators), never in clear, and
    # without the rule's detail: details quote the text (the repeated unit, the link's host,
    # the term found), and the log has none, so replay after an erasure keeps the same state.
    written = body.get("text")
    if sealed and isinstance(written, str):
        shown: str | None = written
        detail = ""
    else:
        shown = decision.text.shown if decision.text is not None else None
        detail = finding.detail
    _remember_message(state, message_id, author, now, shown, finding.verdict, finding.rule)
    if finding.verdict is not Verdict.BLOCK and decision.fingerprint is not None:
        lookback = rules_in_force(state, platform).lookback_ms
        _record_activity(state, author, now, decision.fingerprint, lookback)
    if finding.verdict is not Verdict.ALLOW:
        outputs += _automatic(state, event, message_id, finding, shown, detail)
    if finding.verdict is Verdict.HOLD:
        state["queue"][message_id] = {
            "message_id": message_id,
            "user_id": author,
            "text": shown,
            "sent_at": now,
            "held": True,
            "rule": finding.rule,
            "score": finding.score,
            "detail": detail,
            "flags": [],
        }
        state["_queue_changed"] = True
        outputs.append(Notice(CHANNEL, state["stream_id"], "held", state["queue"][message_id]))
    return outputs


def _judged(
    state: ModerationState,
    platform: ModerationState,
    event: Event,
    classifier: Scorer | None,
    texts: Texts,
    logged: Finding | None,
) -> tuple[Decision, bool]:
    """The decision on a chat message, and whether its text is sealed. A text erased since
    (its author's account deleted) is folded with the logged verdict if there is one (replay),
    else blocked as erased."""
    body = event.body
    written = body.get("text")
    sealed = isinstance(written, str)  # until it opens: a text that does not open stays sealed
    author, now = event.actor_id, event.occurred_at_ms
    try:
        text = texts.open(written) if isinstance(written, str) else written
        sealed = text != written
        if not sealed:
            return decide(state, platform, author, now, body, classifier), False
        if text is None:
            return Decision(logged or ERASED, None), True

        def keyed(words: str) -> str:
            return texts.fingerprint(str(written), words)

        opened = {**body, "text": text}
        return decide(state, platform, author, now, opened, classifier, keyed), True
    except Exception as error:  # a rule's bug or the key store down: a moderator sees it
        finding = Finding("internal_error", Verdict.HOLD, 0.0, repr(error))
        checked = None if sealed else check(written if isinstance(written, str) else "")
        if not isinstance(checked, Text):
            return Decision(finding, None), sealed
        return Decision(finding, checked, plain_fingerprint(duplicate_key(checked))), sealed


def _text_judged(
    state: ModerationState,
    platform: ModerationState,
    event: Event,
    classifier: Scorer | None,
    texts: Texts,
) -> list[Output]:
    """A tip's message or a clip's title: one ContentJudged, which the tips fold and the media
    fold wait for before they show the text (a clip: before they list it at all). A text
    sealed with a key destroyed since (its author's account deleted) is blocked as erased."""
    subject, id_field, text_field = JUDGED_TEXTS[event.type]
    written = event.body.get(text_field)
    if subject == "tip_message" and not written:
        return []  # a tip without a message shows no text of its author's
    author, now = event.actor_id, event.occurred_at_ms
    try:
        text = texts.open(written)
        if written and text is None:
            finding = ERASED
        else:
            finding = decide_text(state, platform, author, now, text, classifier)
    except Exception as error:  # a rule's bug or the key store down: the text is held
        finding = Finding("internal_error", Verdict.HOLD, 0.0, repr(error))
    return [derived_events.content_verdict(event, subject, str(event.body[id_field]), finding)]


def _automatic(
    state: ModerationState,
    event: Event,
    message_id: str,
    finding: Finding,
    shown: str | None,
    detail: str,
) -> list[Output]:
    """The author hears what became of their message; moderators see what the rules did (the
    mod log as "automod", published by `flush`, and a notice on the moderation channel for a
    block: a hold already sends its own)."""
    told = ToAuthor(
        CHANNEL,
        state["stream_id"],
        event,
        to_author(finding),
        frame="held" if finding.verdict is Verdict.HOLD else "rejected",
        detail=(
            ("message_id", message_id),
            ("rule", finding.rule),
            ("category", finding.detail if finding.rule == "toxicity" else None),
        ),
    )
    if finding.rule in NOT_LOGGED:
        return [told]
    entry = {
        "message_id": message_id,
        "user_id": event.actor_id,
        "text": shown,
        "rule": finding.rule,
        "score": finding.score,
        "detail": detail,
    }
    extra = {"message_id": message_id, "rule": finding.rule, "score": finding.score}
    action = finding.verdict.value
    log(state, event, action, event.actor_id, finding.rule, detail, AUTOMOD, extra)
    state["_modlog_changed"] = True
    outputs: list[Output] = [told]
    if finding.verdict is Verdict.BLOCK:
        outputs.append(Notice(CHANNEL, state["stream_id"], "blocked", entry))
    return outputs


def _role(state: ModerationState, event: Event) -> list[Output]:
    body = event.body
    if state["stream_id"] != PLATFORM or body.get("role") != "admin" or body.get("channel_id"):
        return []
    if event.type.endswith("RoleGranted"):
        state["admins"][str(body["user_id"])] = event.occurred_at_ms
    else:
        state["admins"].pop(str(body["user_id"]), None)
    return [staff_update(state)]


def _remember_message(
    state: ModerationState,
    message_id: str,
    author: str,
    now: int,
    shown: str | None,
    verdict: Verdict,
    rule: str,
) -> None:
    messages = state["messages"]
    messages[message_id] = {
        "user_id": author,
        "text": shown,
        "sent_at": now,
        "verdict": verdict.value,
        "rule": rule,
    }
    state["messages"] = bounded(messages, MAX_RECENT_MESSAGES)


def _record_activity(
    state: ModerationState, author: str, now: int, key: str, lookback: int
) -> None:
    """Keep each user's recent messages for as long as duplicate, rate and slow-mode checks
    can look back; sweep idle users when there are many."""
    activity, indexes = state["_activity"], state["_activity_index"]
    history = activity.setdefault(author, [])
    index = indexes[author] = current(indexes.get(author), history)
    appended(index, history, now, key)
    history.append([now, key])
    since = now - lookback
    stale = 0
    while stale < len(history) - 1 and history[stale][0] < since:  # the newest one stays
        stale += 1
    if stale:
        dropped(index, history[:stale])
        del history[:stale]
    if len(activity) > MAX_ACTIVE_USERS and now - state["_swept_at"] >= SWEEP_EVERY_MS:
        state["_swept_at"] = now
        state["_activity"] = {
            user: entries for user, entries in activity.items() if entries[-1][0] >= since
        }
        state["_activity_index"] = {
            user: indexes.get(user) or history_index(entries)
            for user, entries in state["_activity"].items()
        }
