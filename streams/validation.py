"""What an event must satisfy before it is produced: its Avro types (checked by fastavro, explained
field by field here) and the domain rules Avro cannot express, declared in one table (`RULES`).

Rules run only on bodies whose types are valid, so a check may trust its value's type.
"""

from __future__ import annotations

import re
import reprlib
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from fastavro import validation

from livefold.moderation import normalize as moderation_text
from livefold.moderation.policy import category_levels

# fastavro's stub lacks disable_tuple_notation, which the function has.
avro_valid = cast(Callable[..., bool], validation.validate)

Check = Callable[[Any, Mapping[str, Any]], str | None]  # (value, whole body) -> reason or None


@dataclass(frozen=True)
class FieldError:
    path: str  # "options", "emotes[0].positions[1].end"
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class EventValidationError(ValueError):
    """The event does not satisfy its schema or a domain rule; nothing was produced."""

    def __init__(self, event_type: str, errors: list[FieldError]):
        self.event_type = event_type
        self.errors = errors
        super().__init__(f"{event_type}: " + "; ".join(str(error) for error in errors))


# ---------------------------------------------------------------- checks for the table


def items(low: int, high: int) -> Check:
    return lambda value, _: None if low <= len(value) <= high else f"must have {low}..{high} items"


def chars(low: int, high: int) -> Check:
    reason = f"must be {low}..{high} characters long"
    return lambda value, _: None if low <= len(value) <= high else reason


def between(low: float, high: float) -> Check:
    return lambda value, _: None if low <= value <= high else f"must be between {low} and {high}"


def matches(pattern: str, meaning: str) -> Check:
    compiled = re.compile(pattern)
    return lambda value, _: None if compiled.fullmatch(value) else f"{meaning}, got {value!r}"


def unique(key: str | None = None) -> Check:
    def check(value: Any, _: Mapping[str, Any]) -> str | None:
        keys = [item[key] for item in value] if key else list(value)
        return None if len(set(keys)) == len(keys) else f"{key or 'items'} must be unique"

    return check


def one_of_options(value: Any, body: Mapping[str, Any]) -> str | None:
    option_ids = {option["option_id"] for option in body["options"]}
    return None if value in option_ids else f"{value!r} is not the option_id of an option"


CLIP_MAX_MS = 300_000


def after_start(value: Any, body: Mapping[str, Any]) -> str | None:
    length = value - body["start_offset_ms"]
    return None if 0 < length <= CLIP_MAX_MS else "must be after start_offset_ms, at most 5 minutes"


def is_uuid(value: Any, _: Mapping[str, Any]) -> str | None:
    try:
        uuid.UUID(value)
    except ValueError:
        return f"must be a UUID, got {value!r}"
    return None


def safe_chat_text(value: Any, _: Mapping[str, Any]) -> str | None:
    """Text moderation refuses whatever it says (direction overrides, noncharacters, stacked
    combining marks, nothing visible) is refused before it reaches the log."""
    if value.isascii():
        return None
    checked = moderation_text.check(value)
    return checked.detail if isinstance(checked, moderation_text.Rejected) else None


def known_category_levels(value: Any, _: Mapping[str, Any]) -> str | None:
    try:
        category_levels(value)
    except ValueError as error:
        return str(error)
    return None


ENVELOPE_RULES: list[tuple[str, Check]] = [
    ("event_id", is_uuid),
    ("stream_id", chars(1, 200)),
    ("actor_id", chars(1, 200)),
]

CURRENCY = matches(r"[A-Z]{3}", "must be an ISO-4217 code of three capital letters like 'EUR'")
IDEMPOTENCY_KEY = chars(1, 128)
SESSION_TIMEOUT = between(1_000, 3_600_000)
OPTIONS: list[tuple[str, Check]] = [("options", items(2, 10)), ("options", unique("option_id"))]

RULES: dict[str, list[tuple[str, Check]]] = {
    "livefold.stream.Created": [("title", chars(1, 140))],
    "livefold.stream.SettingsChanged": [("title", chars(1, 140))],
    "livefold.chat.MessageSent": [
        ("message_id", chars(1, 200)),
        ("text", chars(1, 500)),
        ("text", safe_chat_text),
    ],
    "livefold.reactions.ReactionSent": [("count", between(1, 100))],
    "livefold.polls.PollCreated": [
        ("question", chars(1, 300)),
        *OPTIONS,
        ("duration_seconds", between(5, 86_400)),
    ],
    "livefold.polls.VoteCast": [("option_ids", items(1, 10)), ("option_ids", unique())],
    "livefold.quiz.QuizQuestionPosed": [
        ("question", chars(1, 300)),
        *OPTIONS,
        ("correct_option", one_of_options),
        ("points", between(1, 10_000)),
        ("time_limit_seconds", between(5, 600)),
    ],
    "livefold.tips.TipIntentCreated": [
        ("amount_minor", between(1, 2**53)),
        ("currency", CURRENCY),
        ("message", chars(0, 280)),
        ("idempotency_key", IDEMPOTENCY_KEY),
    ],
    "livefold.tips.TipCaptured": [
        ("amount_minor", between(1, 2**53)),
        ("currency", CURRENCY),
        ("idempotency_key", IDEMPOTENCY_KEY),
    ],
    "livefold.tips.TipFailed": [("idempotency_key", IDEMPOTENCY_KEY)],
    "livefold.tips.TipRefunded": [
        ("amount_minor", between(1, 2**53)),
        ("currency", CURRENCY),
        ("idempotency_key", IDEMPOTENCY_KEY),
    ],
    "livefold.costream.GuestInvited": [("guest_id", chars(1, 200))],
    "livefold.moderation.VerdictIssued": [("score", between(0.0, 1.0))],
    "livefold.moderation.FilterSettingsChanged": [("category_levels", known_category_levels)],
    "livefold.moderation.ChatModeChanged": [
        ("slow_seconds", between(0, 3600)),
        ("followers_only_minutes", between(0, 129_600)),
    ],
    "livefold.audience.ViewerJoined": [
        ("country", matches(r"[A-Z]{2}", "must be an ISO-3166 alpha-2 code like 'DE'")),
        ("timeout_ms", SESSION_TIMEOUT),
    ],
    "livefold.audience.ViewerHeartbeat": [("timeout_ms", SESSION_TIMEOUT)],
    "livefold.media.IngestStarted": [
        ("width", between(1, 8192)),
        ("height", between(1, 8192)),
        ("fps", between(0.001, 240)),
    ],
    "livefold.media.IngestHealth": [
        ("bitrate_kbps", between(0.0, 1_000_000.0)),
        ("fps", between(0.0, 240.0)),
        ("dropped_frames", between(0, 2**53)),
        ("interval_ms", between(1, 2**53)),
    ],
    "livefold.media.ClipCreated": [
        ("start_offset_ms", between(0, 2**53)),
        ("end_offset_ms", after_start),
        ("title", chars(1, 140)),
    ],
    "livefold.media.ClipReady": [
        ("start_offset_ms", between(0, 2**53)),
        ("duration_ms", between(1, 600_000)),
        ("size_bytes", between(1, 2**53)),
    ],
    "livefold.media.ClipFailed": [("reason", chars(1, 500))],
    "livefold.media.ThumbnailCaptured": [("offset_ms", between(0, 2**53))],
}


class Validator:
    def __init__(self, reaction_kinds: Collection[str]):
        kinds = frozenset(reaction_kinds)
        listed = ", ".join(sorted(kinds))

        def known_kind(value: Any, _: Mapping[str, Any]) -> str | None:
            return None if value in kinds else f"unknown reaction kind {value!r}; known: {listed}"

        self.rules = {name: ENVELOPE_RULES + rules for name, rules in RULES.items()}
        self.rules["livefold.reactions.ReactionSent"] = [
            *self.rules["livefold.reactions.ReactionSent"],
            ("kind", known_kind),
        ]
        self._field_names: dict[str, frozenset[str]] = {}

    def validate(self, event_type: str, body: Any, schema: dict[str, Any]) -> None:
        """Raise EventValidationError unless `body` fits `schema` (fastavro-parsed) and RULES."""
        if not isinstance(body, dict):
            raise EventValidationError(event_type, [FieldError("body", "must be a dict")])
        field_names = self._field_names.get(event_type) or self._remember_fields(event_type, schema)
        errors = []
        if not body.keys() <= field_names:
            errors = [
                FieldError(n, f"not a field of {event_type}") for n in body.keys() - field_names
            ]
        if not avro_valid(body, schema, raise_errors=False, disable_tuple_notation=True):
            named = schema.get("__named_schemas", {})
            errors += explain(body, schema, named, "") or [FieldError("body", "does not fit")]
        if errors:
            raise EventValidationError(event_type, errors)
        for name, check in self.rules.get(event_type, ENVELOPE_RULES):
            value = body.get(name)
            reason = None if value is None else check(value, body)
            if reason is not None:
                errors.append(FieldError(name, reason))
        named = {error.path for error in errors}
        errors += [error for error in id_problems(body) if error.path not in named]
        if errors:
            raise EventValidationError(event_type, errors)

    def _remember_fields(self, event_type: str, schema: dict[str, Any]) -> frozenset[str]:
        names = frozenset(field["name"] for field in schema["fields"])
        self._field_names[event_type] = names
        return names


# ---------------------------------------------------------------- ids

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@|+=~-]{0,199}")
ID_SHAPE = "must be an id: 1..200 of A-Z a-z 0-9 . _ : @ | + = ~ -, starting with a letter/digit"


def id_problems(value: Any, path: str = "") -> list[FieldError]:
    """Every field named `*_id` (a string) or `*_ids` (strings), at any depth, has an id's
    length and shape: ids are keys, path segments and log lines, never free text."""
    errors: list[FieldError] = []
    if isinstance(value, Mapping):
        for name, item in value.items():
            where = f"{path}.{name}" if path else str(name)
            if isinstance(item, str) and str(name).endswith("_id"):
                errors += [] if ID.fullmatch(item) else [FieldError(where, ID_SHAPE)]
            elif isinstance(item, list) and str(name).endswith("_ids"):
                errors += [
                    FieldError(f"{where}[{index}]", ID_SHAPE)
                    for index, one in enumerate(item)
                    if isinstance(one, str) and not ID.fullmatch(one)
                ]
            else:
                errors += id_problems(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors += id_problems(item, f"{path}[{index}]")
    return errors


# ---------------------------------------------------------------- explaining type errors

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any, bounds: tuple[int, int]) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]
    )


PRIMITIVES: dict[str, Callable[[Any], bool]] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "int": lambda value: _integer(value, INT_RANGE),
    "long": lambda value: _integer(value, LONG_RANGE),
    "float": _number,
    "double": _number,
    "bytes": lambda value: isinstance(value, bytes | bytearray),
    "string": lambda value: isinstance(value, str),
}


def describe(schema: Any) -> str:
    if isinstance(schema, list):
        return " or ".join(describe(branch) for branch in schema)
    if isinstance(schema, dict):
        kind = str(schema["type"])
        return f"{kind} {schema['name']}" if "name" in schema else kind
    return str(schema)


def show(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {reprlib.repr(value)}"


def explain(value: Any, schema: Any, named: Mapping[str, Any], path: str) -> list[FieldError]:
    """Why `value` does not fit `schema`, one FieldError per offending leaf (empty if it fits)."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            fits = PRIMITIVES[schema](value)
            return [] if fits else [FieldError(path, f"expected {schema}, got {show(value)}")]
        schema = named[schema]
    if isinstance(schema, list):
        if any(not explain(value, branch, named, path) for branch in schema):
            return []
        others = [branch for branch in schema if branch != "null"]
        if value is not None and len(others) == 1:
            return explain(value, others[0], named, path)
        return [FieldError(path, f"expected {describe(schema)}, got {show(value)}")]
    kind = schema["type"]
    if kind in PRIMITIVES:
        return explain(value, kind, named, path)
    expected = FieldError(path, f"expected {describe(schema)}, got {show(value)}")
    if kind == "record":
        if not isinstance(value, Mapping):
            return [expected]
        errors: list[FieldError] = []
        for field in schema["fields"]:
            name, where = field["name"], f"{path}.{field['name']}" if path else field["name"]
            if name not in value and "default" not in field:
                errors.append(FieldError(where, "required field is missing"))
            else:
                errors += explain(
                    value.get(name, field.get("default")), field["type"], named, where
                )
        return errors
    if kind == "enum":
        if value in schema["symbols"]:
            return []
        return [
            FieldError(path, f"must be one of {', '.join(schema['symbols'])}; got {show(value)}")
        ]
    if kind == "array":
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            return [expected]
        return [
            e
            for i, item in enumerate(value)
            for e in explain(item, schema["items"], named, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, Mapping):
            return [expected]
        errors = [
            FieldError(f"{path}[{key!r}]", "map keys must be strings")
            for key in value
            if not isinstance(key, str)
        ]
        return errors + [
            e
            for key, item in value.items()
            for e in explain(item, schema["values"], named, f"{path}[{key!r}]")
        ]
    if kind == "fixed":
        fits = isinstance(value, bytes) and len(value) == schema["size"]
        return (
            []
            if fits
            else [FieldError(path, f"expected {schema['size']} bytes, got {show(value)}")]
        )
    return [expected]
