"""Generate `livefold_sdk/events.py`, typed events, from livefold's Avro schemas.

    python -m livefold_sdk.codegen SCHEMAS_DIR OUT_FILE [--check]

Every `SCHEMAS_DIR/<domain>/*.avsc` record becomes a TypedDict (its nested records too), every
enum a Literal alias. Types are Avro's underlying ones, as the gateway and the SDK's Kafka
consumer deliver them: timestamps are epoch-millisecond ints, UUIDs strings. Events inherit
`Envelope`, the five fields every livefold event starts with.
"""

from __future__ import annotations

import argparse
import json
import keyword
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENVELOPE = ("event_id", "stream_id", "actor_id", "occurred_at", "trace_id")
PRIMITIVES = {
    "null": "None",
    "boolean": "bool",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "bytes": "bytes",
    "string": "str",
}
WIDTH = 100


class SchemaError(ValueError):
    """A schema file the generator cannot turn into types; the message names the file."""


@dataclass
class Module:
    """What is emitted so far: blocks of source, and the Python name of each Avro full name."""

    blocks: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # Avro full name -> Python name
    taken: dict[str, str] = field(default_factory=dict)  # Python name -> Avro full name
    events: list[tuple[str, str]] = field(default_factory=list)  # (full name, Python name)


def comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()),
        WIDTH,
        initial_indent=f"{indent}# ",
        subsequent_indent=f"{indent}# ",
        break_on_hyphens=False,
    )


def docstring(text: str, indent: str) -> list[str]:
    text = " ".join(text.split()).replace("\\", "\\\\").replace('"""', "'''")
    lines = textwrap.wrap(text, WIDTH - len(indent) - 6, break_on_hyphens=False)
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *(f"{indent}{line}" for line in lines[1:]), f'{indent}"""']


class Generator:
    def __init__(self, module: Module, path: Path):
        self.module = module
        self.path = path
        self.namespace = ""

    def fail(self, reason: str) -> SchemaError:
        return SchemaError(f"{self.path}: {reason}")

    def fullname(self, schema: dict[str, Any], namespace: str) -> str:
        name = str(schema["name"])
        return name if "." in name else f"{schema.get('namespace', namespace)}.{name}"

    def python_name(self, fullname: str) -> str:
        short = fullname.rsplit(".", 1)[-1]
        if self.module.taken.get(short, fullname) != fullname:
            domain = fullname.split(".")[-2].capitalize()
            short = f"{domain}{short}"
            if short in self.module.taken:
                raise self.fail(f"two types would be named {short}")
        self.module.taken[short] = fullname
        self.module.names[fullname] = short
        return short

    def annotation(self, schema: Any, namespace: str) -> str:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return PRIMITIVES[schema]
            fullname = schema if "." in schema else f"{namespace}.{schema}"
            if fullname not in self.module.names:
                raise self.fail(f"unknown type {schema!r}")
            return self.module.names[fullname]
        if isinstance(schema, list):  # a union; None last, as type checkers write it
            branches = [self.annotation(branch, namespace) for branch in schema]
            return " | ".join(sorted(branches, key=lambda branch: branch == "None"))
        if not isinstance(schema, dict) or "type" not in schema:
            raise self.fail(f"not a schema: {schema!r}")
        kind = schema["type"]
        if kind == "array":
            return f"list[{self.annotation(schema['items'], namespace)}]"
        if kind == "map":
            return f"dict[str, {self.annotation(schema['values'], namespace)}]"
        if kind == "record":
            return self.record(schema, namespace)
        if kind == "enum":
            return self.enum(schema, namespace)
        if kind == "fixed":
            return self.named(schema, namespace, "bytes", schema.get("doc"))
        return self.annotation(kind, namespace)

    def named(self, schema: dict[str, Any], namespace: str, body: str, doc: str | None) -> str:
        fullname = self.fullname(schema, namespace)
        if fullname in self.module.names:
            return self.module.names[fullname]
        name = self.python_name(fullname)
        lines = comment(doc, "") if doc else []
        self.module.blocks.append("\n".join([*lines, f"{name} = {body}"]))
        return name

    def enum(self, schema: dict[str, Any], namespace: str) -> str:
        symbols = ", ".join(json.dumps(symbol) for symbol in schema["symbols"])
        body = f"Literal[{symbols}]"
        if len(body) + 40 > WIDTH:
            inner = "".join(f"    {json.dumps(symbol)},\n" for symbol in schema["symbols"])
            body = f"Literal[\n{inner}]"
        return self.named(schema, namespace, body, schema.get("doc"))

    def record(self, schema: dict[str, Any], namespace: str, event: bool = False) -> str:
        fullname = self.fullname(schema, namespace)
        if fullname in self.module.names:
            return self.module.names[fullname]
        inner = fullname.rsplit(".", 1)[0]
        fields = schema.get("fields")
        if not isinstance(fields, list):
            raise self.fail(f"record {fullname} has no fields")
        envelope = event and tuple(f["name"] for f in fields[: len(ENVELOPE)]) == ENVELOPE
        lines: list[str] = []
        for item in fields[len(ENVELOPE) if envelope else 0 :]:
            name = item["name"]
            if not name.isidentifier() or keyword.iskeyword(name):
                raise self.fail(f"field {name!r} of {fullname} is not a Python identifier")
            annotation = self.annotation(item["type"], inner)
            lines += comment(item["doc"], "    ") if item.get("doc") else []
            logical = logical_type(item["type"])
            suffix = f"  # {logical}" if logical else ""
            if len(f"    {name}: {annotation}{suffix}") > WIDTH:
                suffix = ""
            lines.append(f"    {name}: {annotation}{suffix}")
        name = self.python_name(fullname)
        base = "Envelope" if envelope else "TypedDict"
        head = [f"class {name}({base}):", *docstring(schema.get("doc") or fullname, "    ")]
        if not lines and not envelope:
            lines = ["    pass"]
        self.module.blocks.append("\n".join(head + ([""] if lines else []) + lines))
        if event:
            self.module.events.append((fullname, name))
        return name


def logical_type(schema: Any) -> str | None:
    if isinstance(schema, dict) and "logicalType" in schema:
        return str(schema["logicalType"])
    if isinstance(schema, list):
        found = [logical_type(branch) for branch in schema]
        return next((name for name in found if name), None)
    return None


HEADER = '''"""Typed livefold events, generated by `python -m livefold_sdk.codegen` from the Avro
schemas (schemas/<domain>/*.avsc): do not edit; regenerate.

Values are Avro's underlying types, as the SDK's Kafka consumer delivers them: timestamps
(timestamp-millis) are epoch-millisecond ints, UUIDs are strings.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class Envelope(TypedDict):
    """The fields every livefold event starts with."""

    # Unique id of this event (a UUID); consumers dedupe on it.
    event_id: str  # uuid
    # The stream (channel) the event belongs to and the Kafka key. Account events use the
    # account's user id.
    stream_id: str
    # Who caused the event: a user id, or "system".
    actor_id: str
    # When it happened: milliseconds since the Unix epoch, UTC.
    occurred_at: int  # timestamp-millis
    # Trace id of the request that caused the event, if it was traced.
    trace_id: str | None'''


def generate(schemas_dir: Path) -> str:
    paths = sorted(schemas_dir.glob("*/*.avsc"))
    if not paths:
        raise SchemaError(f"no schemas under {schemas_dir} (expected <domain>/<name>.avsc)")
    module = Module()
    for path in paths:
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise SchemaError(f"{path}: not JSON: {error}") from error
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise SchemaError(f"{path}: must hold one record schema")
        Generator(module, path).record(schema, str(schema.get("namespace", "")), event=True)
    names = "\n".join(f'    "{full}": {name},' for full, name in module.events)
    members = [name for _, name in module.events]
    union = "\n".join([f"    {members[0]}", *(f"    | {name}" for name in members[1:])])
    footer = (
        "# Every event type by its full name (the Avro record's name, the gateway's event type).\n"
        f"EVENT_TYPES: dict[str, Any] = {{\n{names}\n}}\n\n"
        f"AnyEvent = (\n{union}\n)"
    )
    return "\n\n\n".join([HEADER, *module.blocks, footer]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livefold_sdk.codegen", description=__doc__)
    parser.add_argument("schemas", type=Path, help="the schemas directory (<domain>/*.avsc)")
    parser.add_argument("out", type=Path, help="the Python module to write")
    parser.add_argument("--check", action="store_true", help="fail if OUT is not up to date")
    args = parser.parse_args(argv)
    try:
        source = generate(args.schemas)
    except SchemaError as error:
        print(f"codegen: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != source:
            print(f"codegen: {args.out} is out of date; run without --check", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(source, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
