"""The content rules: blocked terms and phrases (with allowed-term overrides), regex rules, and the
verdict vocabulary every rule speaks. Each rule is pure: folded text in, an optional finding out.

Terms match whole folded words, never inside another word, so "Scunthorpe", "assistant",
"classic" and "cocktail" pass. A run of one letter matches the same run or an elongated one of
three or more ("idiooot" matches "idiot", "as" does not match "ass", "assess" is not "asses").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import re2  # type: ignore[import-untyped]

from livefold.moderation.normalize import Text, fold, spaced_out, squeeze
from livefold.moderation.re2_private import found


class Verdict(StrEnum):
    ALLOW = "allow"
    HOLD = "hold"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # e.g. "blocked_term", "spam_rate": the VerdictIssued.rule
    verdict: Verdict
    score: float
    detail: str = ""


# Every rule name a verdict can carry, by the family the corpus metrics group them in.
FAMILIES: dict[str, str] = {
    "clean": "clean",
    "moderator": "moderator",
    "internal_error": "internal_error",
    "blocked_term": "blocked_term",
    "regex": "regex",
    "toxicity": "toxicity",
    **{
        f"spam_{kind}": "spam"
        for kind in (
            "duplicate",
            "rate",
            "caps",
            "emotes",
            "mentions",
            "link",
            "repetition",
            "scam",
        )
    },
    **{rule: "mode" for rule in ("slow_mode", "followers_only", "emote_only", "subscribers_only")},
    **{rule: "user" for rule in ("banned", "timed_out", "blocked_user")},
    **{
        f"input_{reason}": "input"
        for reason in (
            "empty",
            "too_long",
            "control_characters",
            "invalid_utf8",
            "bidi_controls",
            "noncharacters",
            "combining_marks",
        )
    },
    "input_invisible_only": "input",
    "input_not_text": "input",
}

# Not "y": "cock" must not block "cocky".
_SUFFIXES = ("s", "es", "z", "ed", "er", "ers", "ing", "in")
_ELONGATED = 3


def letter_runs(word: str) -> tuple[int, ...]:
    """How many times each letter repeats in turn ("hello" -> 1, 1, 2, 1); computed once per
    word per process (chat's words repeat; the cache is emptied when it fills)."""
    runs = _RUNS.get(word)
    if runs is None:
        if len(_RUNS) >= _RUNS_MAX:
            _RUNS.clear()
        runs = _RUNS[word] = tuple(len(tuple(group)) for _, group in itertools.groupby(word))
    return runs


_RUNS: dict[str, tuple[int, ...]] = {}
_RUNS_MAX = 50_000


def same_word(text_runs: tuple[int, ...], term_runs: tuple[int, ...]) -> bool:
    """Both words squeeze to the same letters; do the repeats agree (allowing elongation)?"""
    return all(
        have == want or have >= max(_ELONGATED, want)
        for have, want in zip(text_runs, term_runs, strict=True)
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    term: str  # as configured, for findings and logs
    words: tuple[tuple[str, tuple[int, ...]], ...]  # (squeezed, runs) for each word


def _inflections(word: str) -> set[str]:
    forms = {word, *(word + suffix for suffix in _SUFFIXES)}
    if word.endswith("e"):
        forms |= {word + "d", word + "r", word + "rs", word[:-1] + "ing", word[:-1] + "in"}
    return forms


@dataclass(frozen=True)
class TermList:
    """Terms folded once; `matches` answers which of them a message's folded words contain."""

    _index: dict[str, tuple[_Entry, ...]] = field(default_factory=dict)
    _substrings: tuple[tuple[str, str], ...] = ()  # (folded needle, term)
    _by_length: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, words: Iterable[str] = (), substrings: Iterable[str] = ()) -> TermList:
        index: dict[str, list[_Entry]] = {}
        by_length: dict[int, list[tuple[str, str]]] = {}
        for term in words:
            folded = fold(term)
            if not folded:
                continue
            forms = _inflections(folded[0]) if len(folded) == 1 else {folded[0]}
            if len(folded) == 1:
                for form in forms:
                    by_length.setdefault(len(form), []).append((form, term))
            for first in forms:
                spec = (first, *folded[1:])
                entry = _Entry(term, tuple(zip(squeeze(spec), map(letter_runs, spec), strict=True)))
                index.setdefault(entry.words[0][0], []).append(entry)
        needles = tuple(("".join(fold(term)), term) for term in substrings if fold(term))
        return cls(
            {k: tuple(v) for k, v in index.items()},
            needles,
            {k: tuple(v) for k, v in by_length.items()},
        )

    def __bool__(self) -> bool:
        return bool(self._index or self._substrings)

    def matches(self, tokens: Sequence[str], squeezed: Sequence[str]) -> list[tuple[int, int, str]]:
        """(first word, past the last word, term) of every whole-word match."""
        found: list[tuple[int, int, str]] = []
        for position, key in enumerate(squeezed):
            if "*" in key:
                term = self._masked(tokens[position])
                if term is not None:
                    found.append((position, position + 1, term))
                continue
            for entry in self._index.get(key, ()):
                end = position + len(entry.words)
                if end <= len(tokens) and all(
                    squeezed[position + i] == want
                    and same_word(letter_runs(tokens[position + i]), runs)
                    for i, (want, runs) in enumerate(entry.words)
                ):
                    found.append((position, end, entry.term))
        return found

    def _masked(self, token: str) -> str | None:
        """A self-censored word ("c*nt"): each "*" stands for one letter; at least two
        letters must be shown and the length must agree."""
        if len(token) - token.count("*") < 2:
            return None
        for word, term in self._by_length.get(len(token), ()):
            if all(a == b or a == "*" for a, b in zip(token, word, strict=True)):
                return term
        return None

    def substring_match(self, compact: str) -> str | None:
        for needle, term in self._substrings:
            if needle in compact:
                return term
        return None


def collapse_spacing(tokens: tuple[str, ...], keep_article: bool = False) -> tuple[str, ...]:
    """Join runs of three or more one-letter words: "k y s" and "h.a.t.e" are one word. With
    keep_article, a leading "a", "i" or "u" stays a word of its own ("you are a c l o w n")."""
    if not spaced_out(tokens):
        return tokens
    joined: list[str] = []
    for single, group in itertools.groupby(tokens, key=lambda t: len(t) == 1):
        letters = list(group)
        if keep_article and single and len(letters) >= 4 and letters[0] in ("a", "i", "u"):
            joined.append(letters.pop(0))
        if single and len(letters) >= 3:
            joined.append("".join(letters))
        else:
            joined.extend(letters)
    return tuple(joined)


def spacing_variants(text: Text) -> list[tuple[str, ...]]:
    """The words as typed, and as they read with spaced-out letters joined."""
    tokens = text.tokens
    variants = [tokens]
    if not text.spaced:
        return variants
    for keep_article in (False, True):
        collapsed = collapse_spacing(tokens, keep_article)
        if collapsed not in variants:
            variants.append(collapsed)
    return variants


def blocked_term(text: Text, blocked: TermList, allowed: TermList) -> Finding | None:
    if not blocked:
        return None
    for words in spacing_variants(text):
        squeezed = text.squeezed if words is text.tokens else squeeze(words)
        hits = blocked.matches(words, squeezed)
        if hits and allowed:
            covered = {
                i for start, end, _ in allowed.matches(words, squeezed) for i in range(start, end)
            }
            hits = [hit for hit in hits if not covered.issuperset(range(hit[0], hit[1]))]
        if hits:
            return Finding("blocked_term", Verdict.BLOCK, 1.0, hits[0][2])
    term = blocked.substring_match("".join(text.tokens))
    if term is not None:
        return Finding("blocked_term", Verdict.BLOCK, 1.0, term)
    return None


# Regex rules run on RE2, whose matching time is linear in the text whatever the pattern, so
# a streamer's pattern cannot stall the agent (no backtracking), and unlike a timeout the
# outcome does not depend on machine load: replay gives the same verdict.
MAX_PATTERN_LENGTH = 200
MAX_REGEX_RULES = 50
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 1 << 20
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.case_sensitive = False


class RegexRejected(ValueError):
    """A pattern that cannot be a rule, with the reason."""


@dataclass(frozen=True)
class RegexRule:
    pattern: str
    compiled: object

    @classmethod
    def compile(cls, pattern: str) -> RegexRule:
        if not pattern:
            raise RegexRejected("regex rule is empty")
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise RegexRejected(
                f"regex rule has {len(pattern)} characters, at most {MAX_PATTERN_LENGTH}"
            )
        try:
            compiled = re2.compile(pattern, _RE2_OPTIONS)
            # A stream's rules are also searched as one alternation of `(?:rule)`s: a rule must
            # stay whole in a group (`\Qabc` quotes the group's closing parenthesis).
            re2.compile(f"(?:{pattern})", _RE2_OPTIONS)
        except re2.error as error:
            message = error.args[0] if error.args else error
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            raise RegexRejected(f"regex rule {pattern!r} is not supported: {message}") from None
        if compiled.search("") is not None:
            raise RegexRejected(f"regex rule {pattern!r} matches empty text, so every message")
        return cls(pattern, compiled)

    def search(self, text: str) -> bool:
        return found(self.compiled, text)


@dataclass(frozen=True)
class RegexRules:
    """A stream's regex rules, also compiled as one alternation: a message that matches none
    (nearly all) costs one search per text, however many rules there are."""

    rules: tuple[RegexRule, ...]
    any_of: object | None  # None: the alternation did not compile (memory), rules one by one

    @classmethod
    def compile(cls, rules: Sequence[RegexRule]) -> RegexRules | None:
        if not rules:
            return None
        combined = "|".join(f"(?:{rule.pattern})" for rule in rules)
        try:
            any_of: object | None = re2.compile(combined, _RE2_OPTIONS)
        except re2.error:
            any_of = None
        return cls(tuple(rules), any_of)

    def first_match(self, text: str) -> RegexRule | None:
        if self.any_of is not None and not found(self.any_of, text):
            return None
        return next((rule for rule in self.rules if rule.search(text)), None)


def regex_rules(plain: str, folded: str, rules: RegexRules) -> Finding | None:
    """Patterns see the casefolded text and its leet-folded words (both without invisibles)."""
    rule = rules.first_match(plain)
    if rule is None and plain != folded:
        rule = rules.first_match(folded)
    return None if rule is None else Finding("regex", Verdict.BLOCK, 1.0, rule.pattern)
