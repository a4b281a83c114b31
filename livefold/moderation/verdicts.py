"""The verdict on one chat message: a pure function of the message, its time (from the event)
and the moderation state at that point in the log.

Order: unusable input, then who the author is (banned, timed out, blocked by the streamer;
the streamer, moderators and admins skip everything after), then chat modes, then flooding,
then content. The first block decides; otherwise the first hold; otherwise allow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from typing import Any, NamedTuple

from livefold.moderation import spam
from livefold.moderation.normalize import Rejected, Text, check, spaced_out, squeeze
from livefold.moderation.policy import SPAM
from livefold.moderation.rules import Finding, Verdict, blocked_term, regex_rules
from livefold.moderation.scoring import current_scorer
from livefold.moderation.state import ModerationState, Rules, can_moderate, rules_in_force
from livefold.moderation.toxicity import Level, Scorer, judge

CLEAN = Finding("clean", Verdict.ALLOW, 0.0)


class Decision(NamedTuple):  # one per message: a tuple is built faster than a dataclass
    finding: Finding
    text: Text | None  # None when the input was rejected
    fingerprint: str | None = None  # of the folded words, when there is a text


def duplicate_key(text: Text) -> str:
    """What two messages share when they are duplicates: their folded words."""
    return " ".join(text.tokens) or text.plain


def plain_fingerprint(words: str) -> str:
    """What the state keeps of a text's folded words for duplicate detection: a hash, never
    the words (a sealed text's is keyed with its author's key: `TextOpener.fingerprint`)."""
    return hashlib.sha256(words.encode()).hexdigest()[:32]


def decide(
    state: ModerationState,
    platform: ModerationState,
    author: str,
    now: int,
    body: dict[str, Any],
    classifier: Scorer | None = None,
    fingerprint_of: Callable[[str], str] = plain_fingerprint,
) -> Decision:
    """`fingerprint_of` makes what duplicate detection compares of the folded words."""
    checked = check(body.get("text", ""))
    if isinstance(checked, Rejected):
        return Decision(
            Finding(f"input_{checked.reason}", Verdict.BLOCK, 1.0, checked.detail), None
        )
    fingerprint = fingerprint_of(duplicate_key(checked))
    finding = _who(state, author, now)
    if finding is not None:
        return Decision(finding, checked, fingerprint)
    if can_moderate(state, author, platform=platform):
        return Decision(CLEAN, checked, fingerprint)
    rules = rules_in_force(state, platform)
    emote_names = _emote_names(body.get("emotes"))
    history: Sequence[Sequence[Any]] = state["_activity"].get(author, ())
    index = state.get("_activity_index", {}).get(author)
    finding = (
        spam.chat_modes(
            rules.modes,
            now,
            followed_at=state["followers"].get(author),
            badges=_badges(body.get("badges")),
            last_message_at=history[-1][0] if history else None,
            is_emote_only=rules.modes.emote_only and spam.emote_only(checked.shown, emote_names),
        )
        if rules.modes.any_on
        else None
    ) or spam.flooding(history, fingerprint, now, rules.settings, index)
    if finding is not None:
        return Decision(finding, checked, fingerprint)
    score, findings = _content(checked, rules, emote_names, classifier or current_scorer())
    for finding in findings:
        if finding.verdict is Verdict.BLOCK:
            return Decision(finding, checked, fingerprint)
    if findings:
        return Decision(findings[0], checked, fingerprint)
    clean = Finding("clean", Verdict.ALLOW, score) if score else CLEAN
    return Decision(clean, checked, fingerprint)


def decide_text(
    state: ModerationState,
    platform: ModerationState,
    author: str,
    now: int,
    text: str | None,
    classifier: Scorer | None = None,
) -> Finding:
    """The verdict on a text others see besides chat (a tip's message, a clip's title): chat's
    rules on who the author is and on content; chat modes and flooding are chat's own. No text
    leaves only who the author is to judge."""
    checked = None if not text else check(text)
    if isinstance(checked, Rejected):
        return Finding(f"input_{checked.reason}", Verdict.BLOCK, 1.0, checked.detail)
    finding = _who(state, author, now)
    if finding is not None:
        return finding
    if checked is None or can_moderate(state, author, platform=platform):
        return CLEAN
    rules = rules_in_force(state, platform)
    score, findings = _content(checked, rules, (), classifier or current_scorer())
    blocking = [finding for finding in findings if finding.verdict is Verdict.BLOCK]
    if blocking or findings:
        return (blocking or findings)[0]
    return Finding("clean", Verdict.ALLOW, score) if score else CLEAN


def _content(
    text: Text, rules: Rules, emote_names: Collection[str], scorer: Scorer
) -> tuple[float, list[Finding]]:
    """The highest category score and what the content rules found, most important first."""
    term = blocked_term(text, rules.blocked, rules.allowed)
    if term is not None:
        return 1.0, [term]
    if rules.regexes:
        regex = regex_rules(text.plain, " ".join(text.tokens), rules.regexes)
        if regex is not None:
            return 1.0, [regex]
    settings = rules.settings
    scores = scorer.scores(_without_allowed(text, rules) if rules.allowed else text)
    spam_on = settings.level(SPAM) is not Level.OFF
    findings = [
        finding
        for finding in (
            judge(scores, lambda category: settings.level(category.value)) if scores else None,
            spam.shape(
                text.shown,
                spam.count_emotes(text.shown, emote_names),
                text.mentions,
                settings,
            )
            if spam_on
            else None,
            spam.links(text.plain, settings) if spam_on else None,
            spam.scam(text.plain) if spam_on else None,
        )
        if finding is not None
    ]
    return max(scores.values(), default=0.0), findings


def _who(state: ModerationState, author: str, now: int) -> Finding | None:
    timeouts = state["timeouts"]
    until = timeouts.get(author)
    if until is not None and until <= now:
        del timeouts[author]  # served: forget it (the same at every replay: time is event time)
    return spam.user_state(author, now, state["banned"], timeouts, state["blocked_users"])


def _without_allowed(text: Text, rules: Rules) -> Text:
    """Allowed terms are not scored by the classifier either."""
    if not rules.allowed:
        return text
    tokens = text.tokens
    squeezed = text.squeezed
    covered = {
        i for start, end, _ in rules.allowed.matches(tokens, squeezed) for i in range(start, end)
    }
    if not covered:
        return text
    kept = tuple(token for i, token in enumerate(tokens) if i not in covered)
    return Text(text.shown, text.plain, kept, text.mentions, squeeze(kept), spaced_out(kept))


def _emote_names(emotes: Any) -> frozenset[str]:
    if not emotes:
        return frozenset()
    return frozenset(
        str(emote.get("name")) for emote in emotes if isinstance(emote, dict) and emote.get("name")
    )


def _badges(badges: Any) -> frozenset[str]:
    if not badges or not isinstance(badges, (list, tuple)):
        return frozenset()
    return frozenset(str(badge) for badge in badges)
