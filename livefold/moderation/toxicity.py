"""Abuse scoring by category behind one small interface, and the levels that turn a category's
score into hold or block.

A `Classifier` scores one message for one category. `Scorer` combines every classifier of a
category (the strongest signal, plus a share of what the others add) and `judge` compares each
category's score with that category's thresholds at the stream's level for it. The signals:

- `LexiconClassifier`, one per category: every point of its score comes from a listed word or
  phrase (`lexicon`) in context (aimed at someone, a bare insult, intensified, negated,
  self-directed), so a moderator can be told why; microseconds per message.
- `threats.ThreatPatterns`: violence, doxxing and self-harm incitement with their target.
- `profanity_model.ProfanityModel`: a linear model trained on a large labelled comment set;
  it also flags harmless lines ("kill the boss first"), so it only adds weight (`ModelSignal`).
- `onnx_model.OnnxClassifier`: an operator's transformer model, when one is configured.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from livefold.moderation.lexicon import (
    AIMED_BY_WORDING,
    DESCRIBING,
    FILLERS,
    INSULT_ADJECTIVES,
    INTENSIFIERS,
    LEXICONS,
    NEGATIONS,
    PROFANE_INFIXES,
    PROFANITY,
    SELF,
    TARGETS,
    Category,
)
from livefold.moderation.normalize import Text, fold, squeeze
from livefold.moderation.rules import Finding, Verdict, letter_runs, same_word, spacing_variants


class Classifier(Protocol):
    def score(self, text: Text) -> float:
        """0.0 (harmless) .. 1.0 (certainly abusive)."""
        ...


class Level(StrEnum):
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# (hold at or above, block at or above) per category and level: higher levels catch more.
# Calibrated on the development corpus (tests/data/moderation_corpus.jsonl): at medium an
# aimed insult or plain swearing is held, a threat, slur or severe insult blocked.
_BASE: dict[Level, tuple[float, float]] = {
    Level.LOW: (0.8, 0.9),
    Level.MEDIUM: (0.6, 0.85),
    Level.HIGH: (0.4, 0.7),
}
THRESHOLDS: dict[Category, dict[Level, tuple[float, float]]] = {
    Category.THREAT: {Level.LOW: (0.7, 0.85), Level.MEDIUM: (0.5, 0.8), Level.HIGH: (0.4, 0.6)},
    Category.HATE: {Level.LOW: (0.7, 0.9), Level.MEDIUM: (0.55, 0.85), Level.HIGH: (0.4, 0.7)},
    Category.SEXUAL: _BASE,
    Category.INSULT: _BASE,
    Category.PROFANITY: {Level.LOW: (0.9, 0.97), Level.MEDIUM: (0.6, 0.9), Level.HIGH: (0.4, 0.8)},
}
# A streamer may allow profanity; threats are judged at least at this level whatever is set.
FLOOR: dict[Category, Level] = {Category.THREAT: Level.LOW}
_ORDER = (Level.OFF, Level.LOW, Level.MEDIUM, Level.HIGH)


def effective_level(category: Category, level: Level) -> Level:
    floor = FLOOR.get(category, Level.OFF)
    return floor if _ORDER.index(level) < _ORDER.index(floor) else level


def judge(scores: Mapping[Category, float], levels: Callable[[Category], Level]) -> Finding | None:
    """The finding of the category that decides most (block before hold, then by score)."""
    found: Finding | None = None
    for category, score in scores.items():
        level = effective_level(category, levels(category))
        if level is Level.OFF or score <= 0.0:
            continue
        hold, block = THRESHOLDS[category][level]
        verdict = Verdict.BLOCK if score >= block else Verdict.HOLD if score >= hold else None
        if verdict is None:
            continue
        if found is None or (verdict is Verdict.BLOCK, score) > (
            found.verdict is Verdict.BLOCK,
            found.score,
        ):
            found = Finding("toxicity", verdict, score, category.value)
    return found


@dataclass(frozen=True, slots=True)
class Context:
    """How a category's words weigh by who they are aimed at."""

    untargeted: float  # said about nobody in particular ("this is stupid")
    self_directed: float  # "i'm so dumb"
    negated: float  # "you're not stupid"
    aimed: float = 0.12  # "you are an idiot" weighs more than "idiot"
    intensified: float = 0.08  # "such an idiot"


CONTEXTS: dict[Category, Context] = {
    Category.THREAT: Context(untargeted=1.0, self_directed=0.3, negated=0.3),
    Category.HATE: Context(untargeted=1.0, self_directed=1.0, negated=0.6),
    Category.SEXUAL: Context(untargeted=1.0, self_directed=1.0, negated=1.0),
    Category.INSULT: Context(untargeted=0.5, self_directed=0.3, negated=0.3),
    Category.PROFANITY: Context(untargeted=1.0, self_directed=1.0, negated=1.0, aimed=0.05),
}

_TARGETS = frozenset(fold(TARGETS))
_SELF = frozenset(fold(SELF))
# "don't" folds to "don t": the stems before the apostrophe are listed too.
_NEGATIONS = frozenset(fold(NEGATIONS))
_INTENSIFIERS = frozenset(fold(INTENSIFIERS))
_FILLERS = frozenset(fold(FILLERS))
_FILLERS_AND_TARGETS = _FILLERS | _TARGETS
_DESCRIBING = frozenset(fold(DESCRIBING))
_CALLED_WITHIN = 5  # words: a name called at the end of a longer line needs a comma
_SHOUTED = 0.08
_WINDOW = 4  # words before an entry that can aim, negate or intensify it
# Words that are also names when capitalised before another name ("Dick Grayson").
_NAMES = frozenset(fold("dick cock ass"))


def targeted(text: Text, tokens: tuple[str, ...]) -> bool:
    return text.mentions > 0 or not _TARGETS.isdisjoint(tokens)


# words, weight, aimed by wording, category, counts as a bare insult when said alone
_Entry = tuple[tuple[str, ...], float, bool, Category, bool]
_CONTRACTIONS = frozenset({"s", "t", "re", "ve", "ll", "d", "m"})  # "who're" is not "whore"


class Lexicon:
    """Every category's words, matched in one pass over a message; `scores` gives each
    category's score (the last message's are kept: every category's view asks in turn)."""

    def __init__(
        self,
        lexicons: Mapping[Category, Mapping[str, float]] = LEXICONS,
        contexts: Mapping[Category, Context] = CONTEXTS,
        aimed_by_wording: Iterable[str] = AIMED_BY_WORDING,
        adjectives: bool = True,
    ) -> None:
        self.contexts = contexts
        self._infix: _Entry = (fold(PROFANE_INFIXES[0]), PROFANITY[PROFANE_INFIXES[0]], False,
                               Category.PROFANITY, True)  # fmt: skip
        aimed_entries = frozenset(aimed_by_wording)
        # first word -> [entries], longest first
        self._entries: dict[str, list[_Entry]] = {}
        describing = [(Category.INSULT, INSULT_ADJECTIVES, False)] if adjectives else []
        sources = [(category, lexicon, True) for category, lexicon in lexicons.items()]
        for category, lexicon, bare_ok in sources + describing:
            for entry, weight in lexicon.items():
                words = fold(entry)
                if words:
                    aimed = entry in aimed_entries
                    self._entries.setdefault(words[0], []).append(
                        (words, weight, aimed, category, bare_ok)
                    )
        for candidates in self._entries.values():
            candidates.sort(key=lambda candidate: -len(candidate[0]))
        singles = [entry for entries in self._entries.values() for entry in entries
                   if len(entry[0]) == 1]  # fmt: skip
        # elongated single words ("stuuupid") are looked up squeezed
        self._squeezed: dict[str, list[_Entry]] = {}
        # self-censored ones ("f*ck") by length
        self._by_length: dict[int, list[_Entry]] = {}
        for single in singles:
            self._squeezed.setdefault(squeeze(single[0])[0], []).append(single)
            self._by_length.setdefault(len(single[0][0]), []).append(single)
        self._last: tuple[Text, dict[Category, float]] | None = None
        # What a message must contain for any entry to match: a one-word entry, or the first
        # two words of a phrase ("you", "go", "i" start phrases but are in most messages).
        self._words = frozenset(entry[0][0] for entry in singles)
        self._pairs = frozenset(
            entry[0][:2] for entries in self._entries.values() for entry in entries
            if len(entry[0]) > 1
        )  # fmt: skip
        self._squeezed_keys = frozenset(self._squeezed)

    def scores(self, text: Text) -> dict[Category, float]:
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        scores: dict[Category, float] = {}
        if self._nothing_to_find(text):
            self._last = (text, scores)
            return scores
        for words in spacing_variants(text):
            squeezed = text.squeezed if words is text.tokens else squeeze(words)
            for category, score in self._score(text, words, squeezed).items():
                scores[category] = max(scores.get(category, 0.0), score)
        if scores:
            lift = _SHOUTED if _shouted(text.shown) else 0.0
            scores = {
                category: round(min(1.0, score + lift), 4) for category, score in scores.items()
            }
        self._last = (text, scores)
        return scores

    def _nothing_to_find(self, text: Text) -> bool:
        """Most chat: no listed word, elongated or not, nothing masked, no spaced letters."""
        tokens = text.tokens
        return (
            self._words.isdisjoint(tokens)
            and self._squeezed_keys.isdisjoint(text.squeezed)
            and not text.spaced
            and "*" not in text.plain
            and self._pairs.isdisjoint(itertools.pairwise(tokens))
            and not any(infix in text.plain for infix in PROFANE_INFIXES)
            and self._words.isdisjoint(map(operator.add, tokens, tokens[1:]))
        )

    def _hits(
        self, tokens: tuple[str, ...], squeezed: tuple[str, ...]
    ) -> list[tuple[int, int, _Entry]]:
        """(position, words covered, entry) of every match."""
        entries_of = self._entries.get
        elongated_of = self._squeezed.get
        hits: list[tuple[int, int, _Entry]] = []
        covered_until = 0  # a phrase's later words are not looked up again
        joined = " ".join(tokens)
        infixes = any(infix in joined for infix in PROFANE_INFIXES)
        words = self._words
        splits = [a + b in words for a, b in itertools.pairwise(tokens)]
        for position, token in enumerate(tokens):
            if position < covered_until:
                continue
            matched = False
            for entry in entries_of(token, ()):
                phrase = entry[0]
                if len(phrase) == 1 or tokens[position : position + len(phrase)] == phrase:
                    covered_until = max(covered_until, position + len(phrase))
                    hits.append((position, len(phrase), entry))
                    matched = True
            if matched:
                continue
            elongated = squeezed[position]
            if "*" in token:
                hits.extend((position, 1, entry) for entry in self._masked(token))
            elif elongated != token:
                runs = letter_runs(token)
                hits.extend(
                    (position, 1, entry)
                    for entry in elongated_of(elongated, ())
                    if same_word(runs, letter_runs(entry[0][0]))
                )
            elif infixes and any(infix in token for infix in PROFANE_INFIXES):
                hits.append((position, 1, self._infix))
            elif position < len(splits) and splits[position]:
                split = self._split_word(token, tokens[position + 1])
                if split:
                    covered_until = position + 2
                    hits.extend((position, 2, entry) for entry in split)
        return hits

    def _split_word(self, first: str, second: str) -> list[_Entry]:
        """A listed word typed in two pieces ("fu ck", "id iot")."""
        if len(first) < 2 or len(second) < 2 or second in _CONTRACTIONS:
            return []
        joined = first + second
        if len(joined) < 4 or joined not in self._words:
            return []
        return [entry for entry in self._entries.get(joined, ()) if len(entry[0]) == 1]

    def _score(
        self, text: Text, tokens: tuple[str, ...], squeezed: tuple[str, ...]
    ) -> dict[Category, float]:
        hits = self._hits(tokens, squeezed)
        if not hits:
            return {}
        aimed_at_someone = targeted(text, tokens)
        # A bare insult ("idiot", "what a moron") is said to someone: chat is a conversation.
        covered = {i for position, span, _ in hits for i in range(position, position + span)}
        bare = _FILLERS_AND_TARGETS.issuperset(
            [token for i, token in enumerate(tokens) if i not in covered]
        )
        called = _called(text, tokens)
        spared: dict[Category, float] = {}
        for position, span, (_, weight, aimed, category, bare_ok) in hits:
            if tokens[position] in _NAMES and _named(text.shown, tokens[position]):
                continue
            in_context = _in_context(
                self.contexts[category],
                weight,
                aimed or (bare_ok and (bare or position == called)),
                tokens,
                position,
                span,
                aimed_at_someone,
            )
            spared[category] = spared.get(category, 1.0) * (1.0 - in_context)
        return {category: 1.0 - left for category, left in spared.items()}

    def _masked(self, token: str) -> list[_Entry]:
        """A self-censored word ("f*ck", "b***h"): each "*" stands for one letter; the
        heaviest word it can be, per category (f**k is fuck or fvck, counted once)."""
        if len(token) - token.count("*") < 2:
            return []
        heaviest: dict[Category, _Entry] = {}
        for entry in self._by_length.get(len(token), ()):
            if all(a == b or a == "*" for a, b in zip(token, entry[0][0], strict=True)):
                category = entry[3]
                if category not in heaviest or entry[1] > heaviest[category][1]:
                    heaviest[category] = entry
        return list(heaviest.values())


class LexiconClassifier:
    """One category's view of the shared `Lexicon`: a `Classifier`."""

    def __init__(self, category: Category, lexicon: Lexicon):
        self.category = category
        self.lexicon = lexicon

    def score(self, text: Text) -> float:
        return self.lexicon.scores(text).get(self.category, 0.0)


def _in_context(
    context: Context,
    weight: float,
    aimed_by_wording: bool,
    tokens: tuple[str, ...],
    position: int,
    length: int,
    aimed_at_someone: bool,
) -> float:
    before = tokens[max(0, position - _WINDOW) : position]
    aimed = (
        aimed_by_wording
        or not _TARGETS.isdisjoint(before)
        or not _TARGETS.isdisjoint(tokens[position : position + length])
    )
    if not _NEGATIONS.isdisjoint(before) and not _nobody(before):
        return weight * context.negated
    if aimed:
        weight += context.aimed
    elif not _SELF.isdisjoint(before):
        weight *= context.self_directed
    elif not aimed_at_someone:
        weight *= context.untargeted
    if not _INTENSIFIERS.isdisjoint(before):
        weight += context.intensified
    return min(1.0, weight)


def _called(text: Text, tokens: tuple[str, ...]) -> int:
    """The position of a word that calls someone a name by where it stands: last in a short
    line or after a comma ("learn to play, idiot", "touch grass loser"), not after "is" or an
    article ("this boss is trash"); -1 if none."""
    last = len(tokens) - 1
    if last < 1 or (last > _CALLED_WITHIN and "," not in text.shown):
        return -1
    return -1 if tokens[last - 1] in _DESCRIBING else last


def _nobody(before: tuple[str, ...]) -> bool:
    """ "no one cares, idiot": "no" names nobody, it negates nothing."""
    return "no" in before and before[before.index("no") + 1 : before.index("no") + 2] == ("one",)


def _named(shown: str, word: str) -> bool:
    """Is `word` written as a name: capitalised, next to another capitalised word or
    possessive ("Dick Van Dyke", "Moby Dick", "Dick's")?"""
    words = shown.split()
    for index, here in enumerate(words):
        bare = here.rstrip(".,!?:;")
        if bare.lower().removesuffix("'s") != word or not bare[:1].isupper():
            continue
        if not bare[1:2].islower():
            continue
        before = words[index - 1] if index else ""
        after = words[index + 1] if index + 1 < len(words) else ""
        if bare.endswith("'s") or before[:1].isupper() or after[:1].isupper():
            return True
    return False


def _shouted(shown: str) -> bool:
    if len(shown) < 8 or shown.islower():
        return False
    letters = sum(map(str.isalpha, shown))
    return letters >= 8 and sum(map(str.isupper, shown)) >= 0.8 * letters


@dataclass(frozen=True)
class ModelSignal:
    """A model's probability as evidence for one category, only where the message is aimed at
    someone (or not, for profanity) and only above `floor`: models flag harmless lines too."""

    model: Classifier
    floor: float
    weight: float
    needs_target: bool
    # Only weighed where another signal already found something in the category: the model
    # then adds its agreement, and a message nothing else flagged does not pay for the model.
    corroborates: bool = False

    def score(self, text: Text) -> float:
        if self.needs_target and not targeted(text, text.tokens):
            return 0.0
        if self.needs_target and (
            not _NEGATIONS.isdisjoint(text.tokens) or not _SELF.isdisjoint(text.tokens)
        ):
            return 0.0
        probability = self.model.score(text)
        if probability <= self.floor:
            return 0.0
        return round(self.weight * (probability - self.floor) / (1.0 - self.floor), 4)


# How much signals that agree add to the strongest one: a quarter of what independent
# evidence would (noisy-or), so a second signal can lift a hold towards a block but a model
# that agrees with the lexicon does not turn every held insult into a block.
AGREEMENT = 0.25


class Scorer:
    """Every classifier of every category; `scores` combines each category's signals."""

    def __init__(self, signals: Iterable[tuple[Category, Classifier]]):
        self.signals = tuple(signals)
        # The lexicon's category views share one pass: asked once, not once per category.
        self._lexicons = tuple(
            {id(c.lexicon): c.lexicon for _, c in self.signals if isinstance(c, LexiconClassifier)}
            .values()
        )  # fmt: skip
        self._others = tuple(
            (category, classifier)
            for category, classifier in self.signals
            if not isinstance(classifier, LexiconClassifier) and not _corroborates(classifier)
        )
        self._corroborating = tuple(
            (category, classifier) for category, classifier in self.signals
            if _corroborates(classifier)
        )  # fmt: skip

    def with_signal(self, category: Category, classifier: Classifier) -> Scorer:
        return Scorer((*self.signals, (category, classifier)))

    def scores(self, text: Text) -> dict[Category, float]:
        found: list[tuple[Category, float]] = []
        for lexicon in self._lexicons:
            found.extend(lexicon.scores(text).items())
        for category, classifier in self._others:
            score = classifier.score(text)
            if score > 0.0:
                found.append((category, score))
        if not found:
            return {}
        for category, classifier in self._corroborating:
            if any(category is seen for seen, _ in found):
                score = classifier.score(text)
                if score > 0.0:
                    found.append((category, score))
        strongest: dict[Category, float] = {}
        spared: dict[Category, float] = {}
        for category, score in found:
            score = min(1.0, score)
            if score > strongest.get(category, 0.0):
                strongest[category] = score
            spared[category] = spared.get(category, 1.0) * (1.0 - score)
        return {
            category: round(best + AGREEMENT * (1.0 - spared[category] - best), 4)
            for category, best in strongest.items()
        }


def _corroborates(classifier: Classifier) -> bool:
    return isinstance(classifier, ModelSignal) and classifier.corroborates


def lexicon_signals() -> list[tuple[Category, Classifier]]:
    lexicon = Lexicon()
    return [(category, LexiconClassifier(category, lexicon)) for category in Category]
