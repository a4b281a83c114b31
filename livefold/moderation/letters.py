"""Which Latin letter a character reads as, for matching only: Unicode's confusables data
(through `confusable-homoglyphs`: Cyrillic `а` reads as `a`, Greek `ο` as `o`), then
`anyascii` for styled and enclosed letters NFKC leaves alone (`🅵` -> `f`), then a few Greek
letters whose look differs from their sound (`μ` looks like `u`, not `m`).

The two libraries' data are read here and nowhere else; `tests/test_moderation_letters.py`
fails if either changes what a known character reads as.
"""

# ruff: noqa: RUF001, RUF002  (look-alike letters are what this module is about)

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii
from confusable_homoglyphs import confusables  # type: ignore[import-untyped]

# Look, not sound: what a reader of Latin text sees in these Greek and Cyrillic letters.
_LOOKS_LIKE = {
    "μ": "u", "η": "n", "ν": "v", "ρ": "p", "χ": "x", "ω": "w", "κ": "k", "τ": "t",
    "ε": "e", "β": "b", "ι": "i", "υ": "u", "к": "k", "м": "m", "н": "h", "т": "t",
    "в": "b", "п": "n", "и": "u", "ш": "w", "г": "r", "л": "n", "я": "r", "ø": "o",
    "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ɡ": "g", "æ": "ae", "œ": "oe", "ß": "ss",
}  # fmt: skip
# Styled Latin letters only: transliterating whole scripts (Arabic, Cyrillic words) would make
# Latin-looking words nobody wrote.
_STYLED_LATIN = re.compile(r"\bLATIN\b|REGIONAL INDICATOR|MATHEMATICAL|MODIFIER LETTER")
_DATA: dict[str, list[dict[str, str]]] = confusables.confusables_data


def _ascii_homoglyph(char: str, depth: int = 3) -> str | None:
    """The ASCII letter or digit the confusables data says `char` can be mistaken for."""
    frontier, seen = [char], {char}
    for _ in range(depth):
        following = []
        for current in frontier:
            for homoglyph in _DATA.get(current, ()):
                glyph = homoglyph["c"]
                if len(glyph) == 1 and glyph.isascii() and glyph.isalnum():
                    return glyph.lower()
                if glyph not in seen:
                    seen.add(glyph)
                    following.append(glyph)
        frontier = following
    return None


def reads_as(char: str) -> str:
    """The Latin letters `char` reads as, or `char` itself (emoji, CJK, punctuation)."""
    if char.isascii():
        return char
    looks = _LOOKS_LIKE.get(char)
    if looks is not None:
        return looks
    glyph = _ascii_homoglyph(char)
    if glyph is not None:
        return glyph
    if _STYLED_LATIN.search(unicodedata.name(char, "")):
        transliterated = anyascii(char).lower()
        if len(transliterated) == 1 and transliterated.isalnum():
            return transliterated
    return char


class LatinTable(dict[int, str]):
    """A `str.translate` table filled as characters are first seen (chat uses few of them)."""

    def __missing__(self, code: int) -> str:
        self[code] = letter = reads_as(chr(code))
        return letter


def to_latin(text: str, table: LatinTable) -> str:
    return text if text.isascii() else text.translate(table)
