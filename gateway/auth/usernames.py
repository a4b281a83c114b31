"""Usernames: what one may be, which are reserved, and when two are the same name.

Two usernames that read alike are one name: the index of taken names (the directory) is
keyed by `username_key`, which folds case and Unicode compatibility forms (NFKC), the
characters that pass for others (`0`/`o`, `1`/`l`/`i`, `rn`/`m`, ...: moderation's folding,
`livefold.moderation.normalize.fold`, plus letter pairs) and separators, so no one registers
`Bob.1` once `bobi` exists, nor `adm1n` or `Live-Fold` at all.
"""

from __future__ import annotations

import re
import unicodedata

from livefold.moderation.normalize import fold

PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
SHAPE = "3..32 characters: letters, digits, '_', '.', '-'; starting with a letter/digit"
_LOOKALIKE_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
# Names no one registers, nor one that reads like them; the first ones not even as the start
# or end of a longer name (`admin_bob`, `the.livefold`).
_RESERVED_AFFIXES = ("admin", "administrator", "moderator", "livefold", "official")
_RESERVED = (
    *_RESERVED_AFFIXES,
    *("mod", "mods", "root", "system", "staff", "support", "security", "help", "abuse"),
    *("api", "www", "mail", "null", "none", "undefined", "anonymous", "everyone", "here"),
)


def normalized_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().lower()


def username_key(username: str) -> str:
    """The name as the uniqueness of usernames sees it."""
    name = normalized_username(username)
    if not PATTERN.match(name):  # no account has it (a sign-in's typo, or 64 KiB of Unicode)
        return name
    for pair, single in _LOOKALIKE_PAIRS:
        name = name.replace(pair, single)
    return "".join(fold(name))  # moderation's folding: leet digits, i/l, separators dropped


_RESERVED_KEYS = frozenset(username_key(name) for name in _RESERVED)
_RESERVED_AFFIX_KEYS = tuple(username_key(name) for name in _RESERVED_AFFIXES)


def username_problem(username: str) -> str | None:
    """Why `username` (normalized) cannot be registered, if it cannot."""
    if not PATTERN.match(username):
        return SHAPE
    key = username_key(username)
    if key in _RESERVED_KEYS or key.startswith(_RESERVED_AFFIX_KEYS):
        return "is reserved (or reads like a reserved name)"
    if key.endswith(_RESERVED_AFFIX_KEYS):
        return "is reserved (or reads like a reserved name)"
    return None
