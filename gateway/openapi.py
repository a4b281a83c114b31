"""The OpenAPI 3.1 document at `/openapi.json`, built from the same `Write` and `Read`
declarations the routes are made of. A write's request body is its event's Avro payload as
JSON Schema, less the fields the gateway sets (envelope, path, generated ids)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Route

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
    schema["properties"].update(write.extra_fields)
    optional = set(write.defaults) | set(write.optional)
    schema["required"] = [n for n in schema.get("required", []) if n not in optional]
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


Operations = dict[str, dict[str, dict[str, Any]]]  # path -> method (lower case) -> operation

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "reason": {"type": "string"},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
    "required": ["error", "reason"],
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def errors(codes: dict[str, str], schema: dict[str, Any] = ERROR) -> dict[str, Any]:
    """Refusals with a JSON body; 429 says Retry-After."""
    answers: dict[str, Any] = {}
    for code, description in codes.items():
        answers[code] = {"description": description, "content": json_content(schema)}
        if code == "429":
            answers[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answers


READY_SCHEMA = {
    "type": "object",
    "properties": {"ready": {"type": "boolean"}, "state_records": {"type": "integer"}},
    "required": ["ready", "state_records"],
}
LIVE_SCHEMA = {
    "type": "object",
    "properties": {
        "live": {"type": "boolean"},
        "failures": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["live", "failures"],
}

SERVICE_OPERATIONS: Operations = {
    "/health": {
        "get": {
            "summary": "Readiness, as /health/ready (the first address, kept for clients)",
            "operationId": "get_health",
            "responses": {
                code: {"description": description, "content": json_content(READY_SCHEMA)}
                for code, description in (("200", "ready"), ("503", "still loading, or not live"))
            },
        }
    },
    "/health/ready": {
        "get": {
            "summary": "Readiness: 200 once this process has read the state topics, while live",
            "operationId": "get_health_ready",
            "responses": {
                code: {"description": description, "content": json_content(READY_SCHEMA)}
                for code, description in (("200", "ready"), ("503", "still loading, or not live"))
            },
        }
    },
    "/health/live": {
        "get": {
            "summary": "Liveness: 200 while every part of the process works",
            "operationId": "get_health_live",
            "responses": {
                code: {"description": description, "content": json_content(LIVE_SCHEMA)}
                for code, description in (("200", "live"), ("503", "a part stopped; restart"))
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics of this process (Bearer gateway_metrics_token)",
            "operationId": "get_metrics",
            "responses": {
                "200": {
                    "description": "the text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"description": "no metrics token, or the wrong one"},
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "get_openapi",
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": json_content({"type": "object"})}
            },
        }
    },
}

PAYMENT_OPERATIONS: Operations = {
    "/api/v1/payments/webhook/{provider}": {
        "post": {
            "summary": "A payment provider's webhook: a tip's payment outcome",
            "description": "The signature (Stripe-Signature) is verified over the raw body "
            "before anything else. A verified outcome is appended to the tips log; 200 once "
            "Kafka acknowledged it, so the provider sends again what the log did not take.",
            "operationId": "post_api_v1_payments_webhook_provider",
            "parameters": [
                *path_parameters("/api/v1/payments/webhook/{provider}"),
                {
                    "name": "Stripe-Signature",
                    "in": "header",
                    "required": False,
                    "description": "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>",
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": json_content({"type": "object", "description": "the provider's event"}),
            },
            "responses": {
                "200": {
                    "description": "taken (appended), or ignored with the reason",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "received": {"type": "boolean"},
                                "provider_event_id": {"type": "string"},
                                "event_id": {"type": "string"},
                                "event_type": {"type": "string"},
                                "ignored": {"type": "string"},
                            },
                            "required": ["received", "provider_event_id"],
                        }
                    ),
                },
                **errors(
                    {
                        "400": "the signature does not verify, or the body is no event",
                        "404": "not the provider this gateway uses",
                        "413": "body too large",
                        "422": "the outcome's event is not valid",
                        "503": "payments or Kafka unavailable: the provider retries",
                    }
                ),
            },
        }
    },
    "/api/v1/payments/sandbox/pay": {
        "post": {
            "summary": "Pay a tip with a test card (sandbox provider only)",
            "operationId": "post_api_v1_payments_sandbox_pay",
            "requestBody": {
                "required": True,
                "content": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "client_secret": {"type": "string", "minLength": 1},
                            "card_number": {"type": "string", "minLength": 1},
                        },
                        "required": ["client_secret", "card_number"],
                    }
                ),
            },
            "responses": {
                "200": {
                    "description": "paid or declined; the webhook reached the gateway",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "reference": {"type": "string"},
                                "status": {"type": "string"},
                                "decline_code": {"type": ["string", "null"]},
                                "provider_event_id": {"type": "string"},
                            },
                        }
                    ),
                },
                **errors(
                    {
                        "404": "the payment provider is not the sandbox",
                        "413": "body too large",
                        "422": "not a client secret of this sandbox, or not a test card",
                        "502": "the gateway did not take the payment's webhook: pay again",
                        "503": "payments unavailable",
                    }
                ),
            },
        }
    },
}


def undocumented(method: str, path: str) -> dict[str, Any]:
    """A served route nobody declared: listed all the same (a test looks for these)."""
    return {
        "summary": "not described",
        "operationId": operation_id(method, path),
        "x-undocumented": True,
        "parameters": path_parameters(path),
        "responses": {"default": {"description": "not described"}},
    }


def document(
    writes: list[Write],
    reads: list[Read],
    server: str,
    routes: Sequence[BaseRoute],
    declared: Operations,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    """Every HTTP route in `routes`, described by the writes, the reads, this module's service
    and payment operations, or `declared` (e.g. the authorization server's)."""
    operations: Operations = {}
    for known in (SERVICE_OPERATIONS, PAYMENT_OPERATIONS, declared):
        for path, methods in known.items():
            operations.setdefault(path, {}).update(methods)
    for write in writes:
        operations.setdefault(write.route, {})[write.method.lower()] = write_operation(write)
    for read in reads:
        operations.setdefault(read.route, {})["get"] = read_operation(read)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue  # the /ws WebSocket: see docs/gateway.md
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = operations.get(route.path, {}).get(method.lower())
            paths.setdefault(route.path, {})[method.lower()] = operation or undocumented(
                method, route.path
            )
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
            "schemas": {"Error": ERROR_SCHEMA, **schemas},
        },
    }
