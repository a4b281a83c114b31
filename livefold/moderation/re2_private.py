"""re2 (google-re2, pinned in pyproject.toml) internals moderation relies on.

The wrapper's `search` maps byte offsets back to characters and builds a match object, about
three times the cost of the search itself for text that matches nothing (nearly every message,
twice each), so whether a pattern matches is asked of the compiled RE2 object directly.
tests/test_library_internals.py checks the names below against the installed package, and
tests/test_moderation_rules.py that the answers agree with the package's own `search`.
"""

from __future__ import annotations

import re2  # type: ignore[import-untyped]

RELIES_ON: dict[type, tuple[str, ...]] = {
    re2: ("_re2", "_Regexp"),  # the RE2 binding (its Anchor enum), the compiled-pattern class
    re2._Regexp: ("_regexp",),  # a compiled pattern's RE2 object
}
PINNED_SOURCE: dict[str, str] = {}

_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


def found(compiled: object, text: str) -> bool:
    """Whether `compiled` (from `re2.compile`) matches anywhere in `text`."""
    encoded = text.encode()
    spans = compiled._regexp.Match(_UNANCHORED, encoded, 0, len(encoded))  # type: ignore[attr-defined]
    return bool(spans[0] != _NO_MATCH)
