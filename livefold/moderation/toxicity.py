"""Abuse scoring behind a small interface, and the levels that turn a score into hold or block.

`LexiconClassifier` is transparent on purpose: every point of a score comes from a listed word
or phrase and a few features (is it aimed at someone, intensified, negated, self-directed), so
a moderator can be told why, and it runs in microseconds. A model can replace it by
implementing `Classifier`, as long as it loads offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from livefold.moderation.normalize import Text, fold, squeeze
from livefold.moderation.rules import Finding, Verdict, spacing_variants


class Classifier(Protocol):
    def score(self, text: Text) -> float:
        """0.0 (harmless) .. 1.0 (certainly abusive)."""
        ...


class Level(StrEnum):
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# (hold at or above, block at or above): higher levels catch more.
THRESHOLDS: dict[Level, tuple[float, float]] = {
    Level.LOW: (0.8, 0.9),
    Level.MEDIUM: (0.6, 0.85),
    Level.HIGH: (0.4, 0.7),
}


def judge(score: float, level: Level) -> Finding | None:
    if level is Level.OFF:
        return None
    hold, block = THRESHOLDS[level]
    if score >= block:
        return Finding("toxicity", Verdict.BLOCK, score)
    if score >= hold:
        return Finding("toxicity", Verdict.HOLD, score)
    return None


# Weight of each word or phrase. Words are folded like messages (so "stupid" also covers
# "STUP1D"), phrases are matched on consecutive folded words. The tiers line up with the
# medium level: an insult aimed at someone is held (0.62..0.84), a severe one is blocked
# (>= 0.85), and any of them said about nobody in particular passes.
LEXICON: dict[str, float] = {
    # threats and incitement to self-harm: aimed by their wording
    "kys": 0.97, "kill yourself": 0.97, "kill urself": 0.97, "go die": 0.9, "hope you die": 0.95,
    "i will find you": 0.85, "end yourself": 0.95, "neck yourself": 0.95, "you should die": 0.95,
    # severe insults
    "retard": 0.8, "retarded": 0.8, "bitch": 0.78, "asshole": 0.78, "dickhead": 0.78,
    "bastard": 0.75, "scum": 0.75, "fuck you": 0.85, "subhuman": 0.85,
    # insults
    "idiot": 0.6, "moron": 0.6, "imbecile": 0.6, "cretin": 0.6, "dumbass": 0.62,
    "stupid": 0.52, "dumb": 0.5, "loser": 0.55, "pathetic": 0.52, "worthless": 0.62,
    "useless": 0.5, "ugly": 0.5, "disgusting": 0.52, "trash": 0.5, "garbage": 0.5,
    "clown": 0.5, "freak": 0.52, "creep": 0.52, "jerk": 0.5, "braindead": 0.6, "pig": 0.5,
    "fatass": 0.6, "shut up": 0.5, "stfu": 0.6, "gtfo": 0.6, "fuck off": 0.62,
    "nobody likes you": 0.62, "you suck": 0.55, "hate you": 0.55, "screw you": 0.55,
    # profanity: mild unless aimed
    "fuck": 0.3, "shit": 0.25, "crap": 0.1, "damn": 0.05, "hate": 0.2, "sucks": 0.15,
}  # fmt: skip
# Entries that aim at the reader by themselves ("go die" needs no "you").
AIMED_BY_WORDING = frozenset(
    {"kys", "kill yourself", "kill urself", "go die", "end yourself", "neck yourself",
     "fuck off", "stfu", "gtfo"}
)  # fmt: skip

_TARGETS = frozenset(fold("you u ur your youre yourself urself ya yall thou streamer"))
_SELF = frozenset(fold("i im me myself my we us"))
# "don't" folds to "don t": the stems before the apostrophe are listed too.
_NEGATIONS = frozenset(
    fold("not no never isnt arent dont wasnt werent nothing isn aren don wasn weren doesn didn")
)
_INTENSIFIERS = frozenset(fold("so such very really fucking total totally absolute complete"))
_AIMED = 0.12  # "you are an idiot" weighs more than "idiot"
_INTENSIFIED = 0.08  # "such an idiot"
_UNTARGETED = 0.5  # said about nobody in particular ("this is stupid")
_SELF_DIRECTED = 0.3  # "i'm so dumb"
_NEGATED = 0.3  # "you're not stupid"
_SHOUTED = 0.08
_WINDOW = 4  # words before an entry that can aim, negate or intensify it


class LexiconClassifier:
    def __init__(self, lexicon: Mapping[str, float] = LEXICON) -> None:
        # first word -> [(all words, weight, aimed by wording)], longest first
        self._entries: dict[str, list[tuple[tuple[str, ...], float, bool]]] = {}
        for entry, weight in lexicon.items():
            words = fold(entry)
            if words:
                aimed = entry in AIMED_BY_WORDING
                self._entries.setdefault(words[0], []).append((words, weight, aimed))
        for candidates in self._entries.values():
            candidates.sort(key=lambda candidate: -len(candidate[0]))
        # elongated single words ("stuuupid") are looked up squeezed
        self._squeezed: dict[str, tuple[float, bool]] = {
            squeeze(words)[0]: (weight, aimed)
            for candidates in self._entries.values()
            for words, weight, aimed in candidates
            if len(words) == 1
        }

    def score(self, text: Text) -> float:
        mentions = text.mentions > 0
        score = max(
            self._score(words, text.squeezed if words is text.tokens else squeeze(words), mentions)
            for words in spacing_variants(text.tokens)
        )
        if score > 0.0 and _shouted(text.shown):
            score = min(1.0, score + _SHOUTED)
        return round(score, 4)

    def _score(self, tokens: tuple[str, ...], squeezed: tuple[str, ...], mentions: bool) -> float:
        entries = self._entries
        spared = 1.0
        targeted = mentions or not _TARGETS.isdisjoint(tokens)
        position = 0
        while position < len(tokens):
            token = tokens[position]
            length = 1
            for words, weight, aimed in entries.get(token, ()):
                if tokens[position : position + len(words)] == words:
                    length = len(words)
                    spared *= 1.0 - _in_context(weight, aimed, tokens, position, length, targeted)
                    break
            else:
                elongated = squeezed[position]
                if elongated != token and elongated in self._squeezed:
                    weight, aimed = self._squeezed[elongated]
                    spared *= 1.0 - _in_context(weight, aimed, tokens, position, 1, targeted)
            position += length
        return 1.0 - spared


def _in_context(
    weight: float,
    aimed_by_wording: bool,
    tokens: tuple[str, ...],
    position: int,
    length: int,
    targeted: bool,
) -> float:
    before = tokens[max(0, position - _WINDOW) : position]
    aimed = (
        aimed_by_wording
        or not _TARGETS.isdisjoint(before)
        or not _TARGETS.isdisjoint(tokens[position : position + length])
    )
    if not _NEGATIONS.isdisjoint(before):
        return weight * _NEGATED
    if aimed:
        weight += _AIMED
    elif not _SELF.isdisjoint(before):
        weight *= _SELF_DIRECTED
    elif not targeted:
        weight *= _UNTARGETED
    if not _INTENSIFIERS.isdisjoint(before):
        weight += _INTENSIFIED
    return min(1.0, weight)


def _shouted(shown: str) -> bool:
    letters = [c for c in shown if c.isalpha()]
    return len(letters) >= 8 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)
