"""What an author is told when moderation holds or blocks their message, and what moderators
see of the rules' own actions (the mod log's "automod" lines and the channel's notices)."""

from __future__ import annotations

from livefold.moderation.rules import Finding, Verdict

AUTOMOD = "automod"  # the mod log's actor for what the rules did

_CATEGORIES = {
    "threat": "threats of violence or self-harm are not allowed here",
    "hate": "slurs and attacks on who people are are not allowed here",
    "sexual": "sexual content is not allowed here",
    "insult": "insults are not allowed here",
    "profanity": "this chat does not allow swearing",
}
_RULES = {
    "blocked_term": "it contains a term this chat blocks",
    "regex": "it matches a pattern this chat blocks",
    "spam_duplicate": "you sent the same message a moment ago",
    "spam_rate": "you are sending messages too fast",
    "spam_caps": "too many capital letters",
    "spam_emotes": "too many emotes",
    "spam_mentions": "too many mentions",
    "spam_repetition": "the same thing repeated over and over",
    "spam_link": "links to that site need a moderator's review",
    "spam_scam": "offers and links like this need a moderator's review",
    "slow_mode": "slow mode is on",
    "followers_only": "only followers may chat",
    "emote_only": "only emotes are allowed right now",
    "subscribers_only": "only subscribers may chat",
    "banned": "you are banned from this chat",
    "timed_out": "you are timed out",
    "blocked_user": "the streamer blocked you",
    "internal_error": "a moderator will look at it",
}
_WITH_DETAIL = frozenset({"slow_mode", "timed_out", "spam_link"})  # "wait 3s", the host
# Verdicts that follow from a moderator's earlier action (already in the mod log) rather than
# from the rules: they are told to the author but not logged again.
NOT_LOGGED = frozenset({"banned", "timed_out", "blocked_user"})


def why(finding: Finding) -> str:
    if finding.rule == "toxicity":
        return _CATEGORIES.get(finding.detail, "it looks abusive")
    if finding.rule.startswith("input_"):
        return finding.detail
    because = _RULES.get(finding.rule, finding.rule.replace("_", " "))
    if finding.detail and finding.rule in _WITH_DETAIL:
        return f"{because} ({finding.detail})"
    return because


def to_author(finding: Finding) -> str:
    if finding.verdict is Verdict.HOLD:
        return f"held for review: {why(finding)}"
    return f"blocked: {why(finding)}"
