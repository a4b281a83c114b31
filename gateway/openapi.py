"""The OpenAPI 3.1 document at `/openapi.json`, built from the same `Write` and `Read`
declarations the routes are made of. A write's request body is its event's Avro payload as
JSON Schema, less the fields the gateway sets (envelope, path, generated ids)."""

from __future__ import annotations

import re
from typing import Any

from gateway.reads import Read
from gateway.writes import Who, Write
from streams.catalog import catalog
from streams.events import ENVELOPE_FIELDS

INT_BOUNDS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
ERROR = {"$ref": "#/components/schemas/Error"}


def json_schema(avro: Any, names: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Avro type -> JSON Schema (2020-12, as OpenAPI 3.1 uses)."""
    if isinstance(avro, list):
        return {"anyOf": [json_schema(branch, names, namespace) for branch in avro]}
    if isinstance(avro, str):
        named: dict[str, Any] | None = names.get(avro) or names.get(f"{namespace}.{avro}")
        return primitive(avro) if named is None else named
    kind = avro["type"]
    if kind in ("record", "enum"):
        if kind == "enum":
            schema: dict[str, Any] = {"type": "string", "enum": list(avro["symbols"])}
        else:
            schema = record(avro["fields"], names, avro.get("namespace", namespace))
        if avro.get("doc"):
            schema["description"] = avro["doc"]
        names[avro["name"]] = names[f"{avro.get('namespace', namespace)}.{avro['name']}"] = schema
        return schema
    if kind == "array":
        return {"type": "array", "items": json_schema(avro["items"], names, namespace)}
    if kind == "map":
        return {
            "type": "object",
            "additionalProperties": json_schema(avro["values"], names, namespace),
        }
    schema = primitive(kind)
    if avro.get("logicalType") == "timestamp-millis":
        schema["description"] = "epoch milliseconds"
    return schema


def primitive(kind: str) -> dict[str, Any]:
    if kind in INT_BOUNDS:
        low, high = INT_BOUNDS[kind]
        return {"type": "integer", "minimum": low, "maximum": high}
    simple = {"string": "string", "boolean": "boolean", "null": "null"}
    if kind in simple:
        return {"type": simple[kind]}
    if kind in ("float", "double"):
        return {"type": "number"}
    return {"type": "string", "contentEncoding": "base64"}  # bytes, fixed


def record(
    fields: list[dict[str, Any]], names: dict[str, Any], namespace: str, leave_out: Any = ()
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields:
        if field["name"] in leave_out:
            continue
        prop = dict(json_schema(field["type"], names, namespace))
        if field.get("doc"):
            prop["description"] = field["doc"]
        properties[field["name"]] = prop
        if "default" not in field:
            required.append(field["name"])
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def body_schema(write: Write) -> dict[str, Any]:
    definition = catalog()[write.event_type].definition
    leave_out = write.set_by_gateway | set(ENVELOPE_FIELDS)
    schema = record(definition["fields"], {}, definition["namespace"], leave_out)
    schema["required"] = [n for n in schema.get("required", []) if n not in write.defaults]
    if not schema["required"]:
        del schema["required"]
    return schema


def path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
        for name in re.findall(r"{(\w+)}", path)
    ]


def responses(codes: dict[str, str], success: dict[str, Any]) -> dict[str, Any]:
    answers: dict[str, Any] = {"200" if "202" not in codes else "202": success}
    for code, description in codes.items():
        if code not in ("200", "202"):
            answers[code] = {
                "description": description,
                "content": {"application/json": {"schema": ERROR}},
            }
    return answers


def write_operation(write: Write) -> dict[str, Any]:
    generated = {name: {"type": "string"} for name in write.generated}
    if write.new_stream:
        generated["stream_id"] = {"type": "string"}
    accepted = {
        "description": "Appended to the event log and acknowledged by Kafka",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"event_id": {"type": "string"}, **generated},
                    "required": ["event_id", *generated],
                }
            }
        },
    }
    codes = {
        "202": "",
        "401": "not signed in, or the token is expired or forged",
        "403": f"allowed to {write.who.value}",
        "404": "unknown stream",
        "409": "Idempotency-Key reused for a different request, or a state conflict",
        "413": "body too large",
        "422": "invalid body: the fields and reasons",
        "429": "rate limited (see Retry-After)",
        "503": "not ready, or Kafka did not acknowledge: retry with the same Idempotency-Key",
    }
    if write.who is Who.STREAMER:
        del codes["404"]
    return {
        "summary": write.summary,
        "operationId": operation_id(write.method, write.path),
        "security": [{"bearer": []}],
        "parameters": [
            *path_parameters(write.path),
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "a retry with the same key never creates a second event",
                "schema": {"type": "string", "minLength": 1, "maxLength": 128},
            },
        ],
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": body_schema(write)}},
        },
        "responses": responses(codes, accepted),
    }


def read_operation(read: Read) -> dict[str, Any]:
    codes = {"200": "", "404": "unknown stream or item", "422": "invalid query parameter"}
    if read.moderators_only:
        codes.update({"401": "not signed in", "403": "not a moderator of the stream"})
    operation: dict[str, Any] = {
        "summary": read.summary,
        "operationId": operation_id("GET", read.path),
        "parameters": [
            *path_parameters(read.path),
            *(
                {"name": p.name, "in": "query", "description": p.description, "schema": p.schema}
                for p in read.query
            ),
        ],
        "responses": responses(
            codes,
            {
                "description": (read.handler.__doc__ or read.summary).strip(),
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
        ),
    }
    if read.moderators_only:
        operation["security"] = [{"bearer": []}]
    return operation


def operation_id(method: str, path: str) -> str:
    words = [word.strip("{}") for word in path.split("/") if word]
    return method.lower() + "_" + "_".join(words).replace("-", "_")


def document(writes: list[Write], reads: list[Read], server: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for write in writes:
        paths.setdefault(write.route, {})[write.method.lower()] = write_operation(write)
    for read in reads:
        paths.setdefault(read.route, {})["get"] = read_operation(read)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "livefold gateway",
            "version": "1",
            "description": "Writes append one event each (202 once Kafka acknowledged); reads "
            "come from the state topics. Live updates: the /ws WebSocket (docs/gateway.md).",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "reason": {"type": "string"},
                        "fields": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                    "required": ["error", "reason"],
                }
            },
        },
    }
