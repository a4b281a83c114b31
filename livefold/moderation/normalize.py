"""Chat text in, either a clear rejection or a cleaned text plus its folded form for matching.

`check` never raises on any str or bytes input. The shown text is what viewers see (invisible
and direction-override characters removed, whitespace collapsed). The folded tokens are what
rules match against: NFKC (fullwidth HATE -> `hate`), casefolded, accents and lookalike letters
folded to Latin, leetspeak folded (`h4te` -> `hate`, `$` -> s, `@` -> a, `0` -> o).
`i`, `l`, `1`, `!` and `|` all fold to `i`, so terms are folded by the same function as text.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from livefold.moderation.letters import LatinTable, to_latin

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
_LEFT_ALONE = _JOINERS + "\ufe0e\ufe0f "  # kept for emoji and scripts, invisible on their own
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
_WORD = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")
# Letters drawn with several symbols.
_DRAWN = re.compile(r"\|_\||\(_\)|\|\\\||/\\|\\/|\|<")
_DRAWN_LETTERS = {"|_|": "u", "(_)": "u", "|\\|": "n", "/\\": "a", "\\/": "v", "|<": "k"}
_SQUEEZE = re.compile(r"(.)\1+")
_FIRST = operator.itemgetter(1)  # a match's first group, without parsing a template each time

# Leetspeak digits; i and l look alike in many fonts, so both (and their leet forms) fold to i.
# Other letters: what they read as in Latin (`letters`), filled in as characters are seen.
_LOOKALIKES = LatinTable({ord(a): b for a, b in zip("01345789l", "oieastbgi", strict=True)})
# The same without folding l into i, for models trained on ordinary spelling.
_READABLE = LatinTable({ord(a): b for a, b in zip("01345789", "oieastbg", strict=True)})

# Text that is unsafe to show, whatever it says: direction overrides and isolates make a line
# read differently from what was typed (and spill into the lines around it), noncharacters are
# not text, and stacks of combining marks ("zalgo") cover the lines above and below.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NONCHARACTERS = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
    )
    + "]"
)
MAX_MARKS = 4  # combining marks one letter may carry (Vietnamese, Hebrew, Indic need a few)
_MARKS = "".join(
    chr(code) for code in range(0x300, 0x1E900) if unicodedata.category(chr(code)) in ("Mn", "Me")
)
_MARK_STACK = re.compile(f"[{re.escape(_MARKS)}]{{{MAX_MARKS + 1},}}")


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that cannot become a chat message. `reason` is a stable code, `detail` for people."""

    reason: str
    detail: str


class Text(NamedTuple):
    """A checked message. A named tuple, not a dataclass: one is made per message and a frozen
    dataclass costs several times as much to build."""

    shown: str  # what viewers see
    plain: str  # NFKC, casefolded, invisibles removed; links and mentions are read from it
    tokens: tuple[str, ...]  # folded words, the form rules match against
    mentions: int
    squeezed: tuple[str, ...] = ()  # the tokens with repeated letters squeezed ("haate" -> "hate")
    spaced: bool = False  # three or more one-letter words: they may spell a word ("k y s")


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
    if not raw.isascii():
        unsafe = unsafe_text(raw)
        if unsafe is not None:
            return unsafe
    shown = _shown(raw)
    if not shown.strip(_LEFT_ALONE):
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
    return Text(shown, plain, tokens, mentions, squeeze(tokens), spaced_out(tokens))


def unsafe_text(raw: str) -> Rejected | None:
    """Why a message is refused whatever it says, or None: direction controls, noncharacters,
    combining-mark stacks."""
    control = _BIDI_CONTROLS.search(raw)
    if control is not None:
        code = f"U+{ord(control.group()):04X}"
        return Rejected(
            "bidi_controls", f"message contains a text direction control ({code}); remove it"
        )
    nonchar = _NONCHARACTERS.search(raw)
    if nonchar is not None:
        code = f"U+{ord(nonchar.group()):04X}"
        return Rejected("noncharacters", f"message contains a Unicode noncharacter ({code})")
    stack = _MARK_STACK.search(unicodedata.normalize("NFC", raw))
    if stack is not None:
        return Rejected(
            "combining_marks",
            f"a letter carries {len(stack.group())} combining marks, at most {MAX_MARKS}",
        )
    return None


def fold(text: str) -> tuple[str, ...]:
    """The folded words of any text: how blocked and allowed terms are stored and compared."""
    return tuple(_TOKEN.findall(_leet(_plain(text.translate(_WHITESPACE_CONTROLS)))))


def spaced_out(tokens: tuple[str, ...]) -> bool:
    return list(map(len, tokens)).count(1) >= 3


def squeeze(tokens: tuple[str, ...]) -> tuple[str, ...]:
    squeezed = _SQUEEZED.get
    return tuple([squeezed(token) or _squeeze_word(token) for token in tokens])


# Chat's words are few and repeat: each is squeezed once (the cache is emptied when it fills).
_SQUEEZED: dict[str, str] = {}
_SQUEEZED_MAX = 50_000


def _squeeze_word(token: str) -> str:
    if len(_SQUEEZED) >= _SQUEEZED_MAX:
        _SQUEEZED.clear()
    _SQUEEZED[token] = squeezed = _SQUEEZE.sub(_FIRST, token)
    return squeezed


def _shown(raw: str) -> str:
    text = raw.translate(_WHITESPACE_CONTROLS) if _has_tab_or_newline(raw) else raw
    if text.isascii():
        # controls are refused before this, so a space is ASCII text's only whitespace
        return (_SPACES.sub(" ", text) if "  " in text else text).strip()
    text = unicodedata.normalize("NFC", text.translate(_DROP))
    if "\u200c" in text or "\u200d" in text:
        text = _JOINER_NEXT_TO_WORD.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _has_tab_or_newline(raw: str) -> bool:
    return "\t" in raw or "\n" in raw or "\r" in raw


def _plain(shown: str) -> str:
    if shown.isascii():
        return shown.lower()
    text = unicodedata.normalize("NFKC", shown.translate(_DROP_ALL)).casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text


def readable_words(text: Text) -> tuple[str, ...]:
    """The message's words de-obfuscated but spelled as usual ("k1ll" -> "kill", not "kiii")."""
    plain = text.plain
    if "@" in plain:
        plain = _MENTION.sub(" ", plain)
    return tuple(_TOKEN.findall(_leet(plain, _READABLE)))


def _leet(plain: str, table: LatinTable = _LOOKALIKES) -> str:
    if "|" in plain or "\\" in plain or "(_)" in plain:
        plain = _DRAWN.sub(lambda m: _DRAWN_LETTERS[m.group()], plain)
    if "!" in plain or "|" in plain or "+" in plain or "@" in plain or "$" in plain:
        plain = _SYMBOL_LEET.sub(lambda m: _SYMBOLS[m.group()], plain)
    if _DIGIT.search(plain) is None:
        return _fold(plain, table)
    # A number is not leetspeak: "room 455" is no "room ass". Words with letters still fold, and
    # so does a lone digit ("1 kn0w" is "i know").
    return _WORD.sub(lambda m: _number_or_fold(m.group(), table), plain)


def _number_or_fold(word: str, table: LatinTable) -> str:
    return word if len(word) > 1 and word.isdigit() else _fold(word, table)


def _fold(plain: str, table: LatinTable) -> str:
    return to_latin(plain, table) if not plain.isascii() else plain.translate(table)
