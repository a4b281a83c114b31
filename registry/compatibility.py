"""Avro schemas as the registry sees them: parsing with clear errors, identity, and compatibility.

Compatibility follows Avro schema resolution (Apache `avro.compatibility`, the port of Java's
SchemaCompatibility that Confluent's registry uses). BACKWARD means the new schema can read
data written with the old one; FORWARD means old readers can read data written with the new one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import avro.errors
import avro.schema
import fastavro
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


class InvalidSchema(ValueError):
    """The text is not a usable Avro schema; the message says why."""


class Level(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, text: object) -> Level:
        if isinstance(text, str) and text.upper() in cls.__members__:
            return cls[text.upper()]
        raise ValueError(
            "Invalid compatibility level. Valid values are none, backward, forward, full, "
            "backward_transitive, forward_transitive, and full_transitive"
        )

    @property
    def backward(self) -> bool:
        return self.name.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.name.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        return self.name.endswith("_TRANSITIVE")


@dataclass(frozen=True)
class AvroSchema:
    text: str  # as registered, served back unchanged
    parsed: avro.schema.Schema

    @property
    def identity(self) -> str:
        """Two texts with the same identity are the same schema (and get the same id).

        Key order, whitespace and namespace spelling do not matter; defaults, docs and aliases
        do, because Avro's Parsing Canonical Form drops defaults and a reader resolves with them.
        """
        return json.dumps(self.parsed.to_json(), sort_keys=True, separators=(",", ":"))


def parse(text: str) -> AvroSchema:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidSchema(f"Invalid schema: not JSON ({error})") from None
    try:
        parsed = avro.schema.make_avsc_object(document)
        # fastavro (used by the serializers) also checks that defaults match their field types.
        fastavro.parse_schema(document, _write_hint=False)
    except (avro.errors.AvroException, fastavro.schema.SchemaParseException) as error:
        raise InvalidSchema(f"Invalid Avro schema: {error}") from None
    except (TypeError, KeyError, AttributeError, ValueError) as error:
        raise InvalidSchema(f"Invalid Avro schema: malformed definition ({error!r})") from None
    return AvroSchema(text, parsed)


_DESCRIPTIONS = {
    "reader_field_missing_default_value": (
        "The field '{message}' at path '{location}' in the {reader} schema has no default value "
        "and is missing in the {writer} schema"
    ),
    "type_mismatch": (
        "The type (path '{location}') of a field in the {reader} schema does not match with "
        "the {writer} schema ({message})"
    ),
    "name_mismatch": (
        "The name of the schema at path '{location}' has changed between the {writer} and "
        "{reader} schema ({message})"
    ),
    "fixed_size_mismatch": (
        "The size of FIXED type field at path '{location}' in the {reader} schema does not "
        "match with the {writer} schema ({message})"
    ),
    "missing_enum_symbols": (
        "The {reader} schema is missing enum symbols {message} at path '{location}' in the "
        "{writer} schema"
    ),
    "missing_union_branch": (
        "The {reader} schema is missing a type inside a union field at path '{location}' in "
        "the {writer} schema ({message})"
    ),
}


def reader_problems(reader: AvroSchema, writer: AvroSchema, reader_is_new: bool) -> list[str]:
    """Why `reader` cannot read data written with `writer`; empty when it can."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader.parsed, writer.parsed)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    sides = {
        "reader": "new" if reader_is_new else "old",
        "writer": "old" if reader_is_new else "new",
    }
    kinds = sorted({kind.value for kind in result.incompatibilities})
    messages, locations = sorted(result.messages), sorted(result.locations)
    if len(kinds) == 1 and len(messages) == 1 and len(locations) == 1:
        description = _DESCRIPTIONS[kinds[0]].format(
            message=messages[0], location=locations[0], **sides
        )
        return [f"{{errorType:'{kinds[0].upper()}', description:'{description}'}}"]
    # The checker merges results without keeping which message belongs to which path.
    return [
        f"{{errorTypes:{[kind.upper() for kind in kinds]}, paths:{locations}, "
        f"details:{messages}, reader:'{sides['reader']} schema'}}"
    ]


def problems(
    new: AvroSchema, previous: Sequence[tuple[int, AvroSchema]], level: Level
) -> list[str]:
    """Why `new` may not follow `previous` ((version, schema), oldest first) under `level`;
    empty when it may."""
    if level is Level.NONE or not previous:
        return []
    against = previous if level.transitive else previous[-1:]
    found: list[str] = []
    for version, old in reversed(against):
        found_here: list[str] = []
        if level.backward:
            found_here += reader_problems(new, old, reader_is_new=True)
        if level.forward:
            found_here += reader_problems(old, new, reader_is_new=False)
        if found_here:
            found += [*found_here, f"{{oldSchemaVersion: {version}}}"]
    if found:
        found.append(f"{{compatibility: '{level.value}'}}")
    return found
