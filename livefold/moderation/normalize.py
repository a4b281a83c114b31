"""Chat text in, either a clear rejection or a cleaned text plus its folded form for matching.

`check` never raises on any str or bytes input. The shown text is what viewers see (invisible
and direction-override characters removed, whitespace collapsed). The folded tokens are what
rules match against: NFKC (fullwidth HATE -> `hate`), casefolded, accents and lookalike letters
folded to Latin, leetspeak folded (`h4te` -> `hate`, `$` -> s, `@` -> a, `0` -> o).
`i`, `l`, `1`, `!` and `|` all fold to `i`, so terms are folded by the same function as text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_LENGTH = 500

# Zero-width, bidi-control and other invisible code points that only serve to hide or
# reorder text. ZWJ and ZWNJ are handled apart: they are legitimate inside emoji sequences
# and some scripts.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064"
    "\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f"
    "\u2800\u3164\ufeff\uffa0\ufff9\ufffa\ufffb"
)
_INVISIBLE_RANGES = ((0xE0000, 0xE007F), (0xE0100, 0xE01EF))  # tag chars, variation sel. suppl.
_DROP = {ord(c): None for c in _INVISIBLE}
for _low, _high in _INVISIBLE_RANGES:
    _DROP.update(dict.fromkeys(range(_low, _high + 1)))
_JOINERS = "\u200c\u200d"
_DROP_ALL = {**_DROP, **{ord(c): None for c in _JOINERS}, **dict.fromkeys(range(0xFE00, 0xFE10))}
_WHITESPACE_CONTROLS = {ord("\t"): " ", ord("\n"): " ", ord("\r"): " "}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
_JOINER_NEXT_TO_WORD = re.compile(r"(?<=[\w])[\u200c\u200d]|[\u200c\u200d](?=[\w])")
_MENTION = re.compile(r"(?<![^\W_])@[^\W_]+")
# Symbols read as letters only where they sit inside or at the edge of a word, so that
# "idiot!" keeps its exclamation mark and "h@te", "id!ot", "$hit", "a$$" fold.
_SYMBOL_LEET = re.compile(
    r"(?<=[^\W_]|[!|+@$])[!|+](?=[^\W_])|(?<=[^\W_]|[@$])[@$]|[@$](?=[^\W_]|\$)"
)
_SYMBOLS = {"!": "i", "|": "i", "+": "t", "@": "a", "$": "s"}
# A word; a "*" inside one is kept ("c*nt"): blocked terms treat it as any one letter.
_TOKEN = re.compile(r"[^\W_]+(?:\*+[^\W_]+)*")
# Letters drawn with several symbols.
_DRAWN = re.compile(r"\|_\||\(_\)|\|\\\||/\\|\\/|\|<")
_DRAWN_LETTERS = {"|_|": "u", "(_)": "u", "|\\|": "n", "/\\": "a", "\\/": "v", "|<": "k"}
_SQUEEZE = re.compile(r"(.)\1+")
_COMBINING_FLOOD = 3  # combining marks kept per base character in the shown text

# Leetspeak digits; i and l look alike in many fonts, so both (and their leet forms) fold to i.
_LEET = ("01345789l", "oieastbgi")
# Cyrillic, Greek and other letters that render like Latin ones.
_CYRILLIC = (
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440"
    "\u0441\u0442\u0443\u0445\u0456\u0458\u0455\u0501",
    "abeekmhopctyxijsd",
)
_GREEK_AND_MORE = (
    "\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4"
    "\u03c5\u03c7\u03c9\u0261\u0131\u0142\u00f8\u0111\u0127",
    "abenikvoptuxwgiiodh",
)
_LOOKALIKES = str.maketrans(
    {
        **{
            a: b
            for source, target in (_LEET, _CYRILLIC, _GREEK_AND_MORE)
            for a, b in zip(source, target, strict=True)
        },
        "\u00e6": "ae",
        "\u0153": "oe",
    }
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that cannot become a chat message. `reason` is a stable code, `detail` for people."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Text:
    shown: str  # what viewers see
    plain: str  # NFKC, casefolded, invisibles removed; links and mentions are read from it
    tokens: tuple[str, ...]  # folded words, the form rules match against
    mentions: int
    squeezed: tuple[str, ...] = ()  # the tokens with repeated letters squeezed ("haate" -> "hate")


def check(raw: str | bytes) -> Text | Rejected:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return Rejected("invalid_utf8", f"message is not valid UTF-8 (byte {error.start})")
    if not isinstance(raw, str):
        return Rejected("not_text", f"message must be text, not {type(raw).__name__}")
    if len(raw) > MAX_LENGTH:
        return Rejected("too_long", f"message has {len(raw)} characters, at most {MAX_LENGTH}")
    if not raw.isascii():
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError as error:
            return Rejected("invalid_utf8", f"message has a lone surrogate at {error.start}")
    control = _CONTROL.search(raw)
    if control is not None:
        code = f"U+{ord(control.group()):04X}"
        return Rejected("control_characters", f"message contains a control character ({code})")
    shown = _shown(raw)
    if not shown:
        if raw.strip():
            return Rejected("invisible_only", "message has only invisible characters")
        return Rejected("empty", "message is empty")
    plain = _plain(shown)
    mentions = 0
    if "@" in plain:
        plain_without_mentions, mentions = _MENTION.subn(" ", plain)
    else:
        plain_without_mentions = plain
    tokens = tuple(_TOKEN.findall(_leet(plain_without_mentions)))
    return Text(shown, plain, tokens, mentions, squeeze(tokens))


def fold(text: str) -> tuple[str, ...]:
    """The folded words of any text: how blocked and allowed terms are stored and compared."""
    return tuple(_TOKEN.findall(_leet(_plain(text.translate(_WHITESPACE_CONTROLS)))))


def squeeze(tokens: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_SQUEEZE.sub(r"\1", " ".join(tokens)).split(" ")) if tokens else ()


def _shown(raw: str) -> str:
    text = raw.translate(_WHITESPACE_CONTROLS)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text.translate(_DROP))
        if "\u200c" in text or "\u200d" in text:
            text = _JOINER_NEXT_TO_WORD.sub("", text)
        text = _limit_combining_marks(text)
    return _SPACES.sub(" ", text).strip()


def _plain(shown: str) -> str:
    if shown.isascii():
        return shown.lower()
    text = unicodedata.normalize("NFKC", shown.translate(_DROP_ALL)).casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text


def _leet(plain: str) -> str:
    if "|" in plain or "\\" in plain or "(_)" in plain:
        plain = _DRAWN.sub(lambda m: _DRAWN_LETTERS[m.group()], plain)
    if "!" in plain or "|" in plain or "+" in plain or "@" in plain or "$" in plain:
        plain = _SYMBOL_LEET.sub(lambda m: _SYMBOLS[m.group()], plain)
    return plain.translate(_LOOKALIKES)


def _limit_combining_marks(text: str) -> str:
    """Stacked combining marks ("zalgo" text) flood the lines above and below a message."""
    kept: list[str] = []
    run = 0
    for character in text:
        if unicodedata.combining(character):
            run += 1
            if run > _COMBINING_FLOOD:
                continue
        else:
            run = 0
        kept.append(character)
    return "".join(kept)
