"""Client JSON, decoded and checked in one step: every request body (writes, accounts, refunds,
the sandbox's payments, payment webhooks) and every `/ws` frame goes through `decode`.

Python's decoder takes more than JSON should give a server: nesting deep enough to exhaust
the interpreter's recursion (a RecursionError, not a ValueError), lone surrogates (`"\\ud800"`
is valid JSON but no UTF-8 can encode it, so the first `.encode()` of it fails), NUL and other
control characters, `NaN` and `Infinity`, numbers that overflow to infinity. `decode` refuses
all of them with the path of the offending value, so no later step (the idempotency
fingerprint, the Avro codec, a frame's echo) meets them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from streams.validation import FieldError

MAX_DEPTH = 32  # livefold's bodies nest 3 deep; providers' webhook events about 8
MAX_STRING_CHARS = 65_536
# C0 controls but tab, newline and carriage return; DEL and the C1 controls; lone surrogates
# (a well-formed pair decodes to one code point, so what matches here is alone).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
NOT_JSON, TOO_DEEP, BAD_TEXT = "not JSON", "nested too deep", "not text livefold takes"
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class Refused(ValueError):
    """The input is not JSON livefold takes; `errors` name where and why. `value` is the
    decoded document when only some of its strings were at fault (else None)."""

    def __init__(self, reason: str, errors: list[FieldError], value: Any = None):
        super().__init__(f"{reason}: " + "; ".join(str(error) for error in errors))
        self.reason = reason
        self.errors = errors
        self.value = value


def decode(raw: bytes | str, whole: str = "body", *, strings: bool = True) -> Any:
    """The JSON document in `raw` (UTF-8 when bytes), or Refused. Errors name a value by its
    path in the document (`text`, `options[1].option_id`), the document itself `whole`.
    `strings=False` leaves strings unchecked (a payment provider's signed event: refusing it
    for a character in a card holder's name would lose the payment)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise Refused(NOT_JSON, [FieldError(whole, "is not UTF-8")]) from None
    if nesting(text) > MAX_DEPTH:
        reason = f"nests deeper than {MAX_DEPTH} arrays and objects"
        raise Refused(TOO_DEEP, [FieldError(whole, reason)])
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError) as error:
        raise Refused(NOT_JSON, [FieldError(whole, f"not valid JSON: {error}")]) from None
    # Only a \u escape, or a raw character the pattern forbids, can put one in a string: text
    # without either (most frames) needs no walk.
    suspect = len(text) > MAX_STRING_CHARS or "\\u" in text or _FORBIDDEN.search(text)
    errors = problems(value, whole) if strings and suspect else []
    if errors:
        raise Refused(BAD_TEXT, errors, value)
    return value


def nesting(text: str) -> int:
    """How deep arrays and objects nest in `text`, counted outside strings (for text that is
    not JSON, at least as deep as a parser would go before it failed)."""
    opened = text.count("[") + text.count("{")
    if opened <= MAX_DEPTH:
        return opened
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket[0] in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def problems(value: Any, whole: str = "body") -> list[FieldError]:
    """Strings (keys too) that are too long or hold characters livefold never takes."""
    found: list[FieldError] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if reason := text_problem(item, MAX_STRING_CHARS):
                found.append(FieldError(where or whole, reason))
        elif isinstance(item, dict):
            for key, child in item.items():
                inside = f"{where}.{key}" if where else key
                if reason := text_problem(key, MAX_STRING_CHARS):
                    found.append(FieldError(f"{where or whole} key {key[:40]!r}", reason))
                    continue
                stack.append((child, inside))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return sorted(found, key=lambda error: error.path)


def text_problem(text: str, longest: int) -> str | None:
    if len(text) > longest:
        return f"must be at most {longest} characters"
    if (bad := _FORBIDDEN.search(text)) is not None:
        char = bad[0]
        if "\ud800" <= char <= "\udfff":
            return "must be Unicode text: a lone surrogate (e.g. \\ud800) is not a character"
        return f"must not hold control characters (U+{ord(char):04X})"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is beyond a double's range")
    return number
