"""Judging a labelled corpus of chat lines through the real fold, and precision and recall per
rule family. Used by the corpus tests and the verdict benchmark.

Two corpora: the development set (`tests/data/moderation_corpus.jsonl`, judged in streams
with blocked terms, regex rules and chat modes, scored per rule family) and the held-out set
(`tests/data/moderation_heldout.jsonl`, judged under default settings in a fresh stream, scored
as stopped or not per family: `expect` is stop, allow, refuse or sanitize).

A corpus line is a JSON object: `text`, `expect` (allow / hold / block), `family` (the rule
family that should decide, "clean" for allowed lines), and optionally `stream` (default
"main"), `user` (default a user of its own), `after` (seconds after the previous line,
default 2), `emotes` (names), `badges`, and `followed_seconds_before` (the author followed the
stream that long before sending the line).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from livefold.moderation.fold import fold
from livefold.moderation.rules import FAMILIES
from livefold.moderation.state import ModerationState
from streams.events import Event, new_event

START = datetime(2026, 5, 1, 20, 0, tzinfo=UTC)
STREAMER = "streamer"
BLOCKED_WORDS = (
    "ass",
    "cunt",
    "cock",
    "whore",
    "slut",
    "zorblat",
    "skrunk",
)  # last two: slur stand-ins
BLOCKED_PHRASES = ("send nudes", "go back to your country")
BLOCKED_SUBSTRINGS = ("discord.gg",)
REGEX_RULES = (
    r"\b(?:free|cheap)\s+(?:followers|viewers|subs)\b",
    r"\b\d{3}[-. ]\d{3}[-. ]\d{4}\b",
)
ALLOWED_DOMAINS = ("livefold.tv", "youtube.com", "wikipedia.org")


@dataclass(frozen=True)
class Judged:
    line: dict[str, Any]
    verdict: str
    rule: str
    score: float = 0.0

    @property
    def family(self) -> str:
        return "clean" if self.verdict == "allow" else FAMILIES.get(self.rule, self.rule)

    @property
    def expected_family(self) -> str:
        return "clean" if self.line["expect"] == "allow" else str(self.line["family"])


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _event(type: str, stream: str, actor: str, at: datetime, **payload: Any) -> Event:
    return new_event(type, stream_id=stream, actor_id=actor, occurred_at=at, **payload)


def setup_events() -> list[Event]:
    """The streams the corpus is judged in: "main" with blocked terms, regex rules, allowed
    domains, a moderator and users banned, timed out and blocked; one stream per chat mode."""
    at = START - timedelta(days=2)
    m = "livefold.moderation."
    events = [
        _event("livefold.stream.Created", s, STREAMER, at, title=s, category="games", tags=[])
        for s in ("main", "slow", "emote", "followers", "subs")
    ]
    main: list[tuple[str, dict[str, Any]]] = [
        (m + "ModeratorAppointed", {"user_id": "mod-anna"}),
        *((m + "TermBlocked", {"term": t, "match": "word"}) for t in BLOCKED_WORDS),
        *((m + "TermBlocked", {"term": t, "match": "word"}) for t in BLOCKED_PHRASES),
        *((m + "TermBlocked", {"term": t, "match": "substring"}) for t in BLOCKED_SUBSTRINGS),
        *((m + "TermBlocked", {"term": t, "match": "regex"}) for t in REGEX_RULES),
        (m + "FilterSettingsChanged", {"allowed_domains": list(ALLOWED_DOMAINS)}),
        (m + "UserBanned", {"user_id": "troll-banned", "reason": "harassment"}),
        (m + "UserTimedOut", {"user_id": "troll-timeout", "until": START + timedelta(days=1)}),
        (m + "UserTimedOut", {"user_id": "troll-served", "until": START + timedelta(seconds=1)}),
        (m + "UserBlocked", {"user_id": "troll-blocked"}),
    ]
    events += [_event(type, "main", STREAMER, at, **body) for type, body in main]
    modes = {"slow_seconds": 0, "emote_only": False, "subscribers_only": False}
    events += [
        _event(m + "ChatModeChanged", "slow", STREAMER, at, **{**modes, "slow_seconds": 10}),
        _event(m + "ChatModeChanged", "emote", STREAMER, at, **{**modes, "emote_only": True}),
        _event(m + "ChatModeChanged", "subs", STREAMER, at, **{**modes, "subscribers_only": True}),
        _event(
            m + "ChatModeChanged", "followers", STREAMER, at, **modes, followers_only_minutes=10
        ),
    ]
    return events


def messages(lines: Iterable[dict[str, Any]]) -> Iterator[Event]:
    at = START
    for number, line in enumerate(lines):
        at += timedelta(seconds=float(line.get("after", 2)))
        message_id = str(line.get("id") or f"line-{number}")
        stream = str(line.get("stream", "main"))
        user = str(line.get("user") or f"viewer-{message_id}")
        if "followed_seconds_before" in line:
            followed = at - timedelta(seconds=float(line["followed_seconds_before"]))
            yield _event("livefold.audience.Followed", stream, user, followed, channel_id=STREAMER)
        yield _event(
            "livefold.chat.MessageSent",
            stream,
            user,
            at,
            message_id=message_id,
            text=line["text"],
            reply_to=None,
            emotes=[{"name": name, "positions": []} for name in line.get("emotes", [])],
            badges=list(line.get("badges", [])),
        )


def default_setup_events() -> list[Event]:
    """One stream under default settings: no terms, no rules, no modes."""
    at = START - timedelta(days=2)
    return [_event("livefold.stream.Created", "main", STREAMER, at, title="main", category="games",
                   tags=[])]  # fmt: skip


def judge(lines: list[dict[str, Any]], setup: Iterable[Event] | None = None) -> list[Judged]:
    states: dict[str, ModerationState] = {}
    for event in setup_events() if setup is None else setup:
        states[event.stream_id], _ = fold(states.get(event.stream_id), event)
    judged = []
    by_id = {str(line.get("id") or f"line-{number}"): line for number, line in enumerate(lines)}
    for event in messages(lines):
        states[event.stream_id], outputs = fold(states.get(event.stream_id), event)
        if event.name != "MessageSent":
            continue
        verdicts = [o for o in outputs if isinstance(o, Event) and o.name == "VerdictIssued"]
        verdict = verdicts[0].body if verdicts else {"verdict": "none", "rule": "none"}
        line = by_id[event.body["message_id"]]
        score = float(verdict.get("score", 0.0))
        judged.append(Judged(line, str(verdict["verdict"]), str(verdict["rule"]), score))
    return judged


def stopped(judged: Judged) -> bool:
    return judged.verdict in ("hold", "block")


def stop_table(judged: list[Judged]) -> tuple[dict[str, tuple[int, int]], str]:
    """Per held-out family: (lines stopped as they should be, lines); and the printed table.
    Lines to stop, refuse or sanitize count as right when stopped (refusing unsafe text is how
    it is sanitized); lines to allow count as right when allowed."""
    families: dict[str, tuple[int, int]] = {}
    for j in judged:
        right = stopped(j) == (j.line["expect"] != "allow")
        done, total = families.get(j.line["family"], (0, 0))
        families[j.line["family"]] = (done + right, total + 1)
    rows = [f"{'family':<14}{'lines':>7}{'right':>7}{'share':>8}"]
    for family, (done, total) in sorted(families.items()):
        rows.append(f"{family:<14}{total:>7}{done:>7}{done / total:>8.3f}")
    stop = [j for j in judged if j.line["expect"] == "stop"]
    clean = [j for j in judged if j.line["expect"] == "allow"]
    recall = sum(map(stopped, stop)) / len(stop) if stop else 1.0
    false_stops = sum(map(stopped, clean)) / len(clean) if clean else 0.0
    rows.append(f"stop recall {recall:.3f}; clean and trap lines stopped {false_stops:.3f}")
    return families, "\n".join(rows)


@dataclass(frozen=True)
class Score:
    family: str
    support: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.support if self.support else 1.0


def scores(judged: list[Judged]) -> list[Score]:
    families = sorted({j.expected_family for j in judged} | {j.family for j in judged})
    return [
        Score(
            family,
            sum(j.expected_family == family for j in judged),
            sum(j.family == family and j.expected_family == family for j in judged),
            sum(j.family == family and j.expected_family != family for j in judged),
            sum(j.family != family and j.expected_family == family for j in judged),
        )
        for family in families
    ]


def table(judged: list[Judged]) -> str:
    rows = [
        f"{'family':<14}{'support':>8}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}"
    ]
    for s in scores(judged):
        rows.append(
            f"{s.family:<14}{s.support:>8}{s.true_positives:>5}{s.false_positives:>5}"
            f"{s.false_negatives:>5}{s.precision:>11.3f}{s.recall:>8.3f}"
        )
    exact = sum(j.verdict == j.line["expect"] for j in judged)
    rows.append(
        f"verdict (allow/hold/block) exact: {exact}/{len(judged)} = {exact / len(judged):.3f}"
    )
    return "\n".join(rows)
