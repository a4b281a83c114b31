"""Rotating one's stream key: `POST /api/v1/stream-key` (streamers and admins) → 201
`{"key_id", "stream_key"}`. The key is shown in this answer only; the log keeps its SHA-256
(livefold/stream_keys.py), so the previous key stops working once the media service has read
the rotation. Not a `Write`: its answer carries a secret, which an idempotent replay would have
to keep in memory, so a retry simply rotates again.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.openapi import Operations, errors, json_content, operation_id
from gateway.runtime import gateway_of
from gateway.writes import API, Who, check_allowed, limited, principal_of, trace_id_of
from livefold.stream_keys import STREAM_KEY_ROTATED, new_key, sha256
from streams.events import new_event

ROUTE = "/stream-key"
PATH = API + ROUTE


async def rotate(request: Request) -> Response:
    """A new stream key for the caller; their earlier key stops working."""
    gateway = gateway_of(request)
    principal = principal_of(request)
    limited(gateway, request, principal)
    gateway.require_ready()
    check_allowed(gateway, Who.STREAMER, principal, "")
    key_id, key = new_key()
    event = new_event(
        STREAM_KEY_ROTATED,
        stream_id=principal.user_id,
        actor_id=principal.user_id,
        trace_id=trace_id_of(request.headers.get("traceparent")),
        key_id=key_id,
        key_sha256=sha256(key),
    )
    await gateway.append(event)
    body = {"event_id": event.event_id, "key_id": key_id, "stream_key": key}
    return JSONResponse(body, 201, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [Route(PATH, rotate, methods=["POST"])]


ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["event_id", "key_id", "stream_key"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "key_id": {"type": "string", "description": "public id of the key"},
        "stream_key": {"type": "string", "description": "the secret; shown only here"},
    },
}

OPERATIONS: Operations = {
    PATH: {
        "post": {
            "summary": "Rotate the caller's stream key (streamers and admins)",
            "description": "Answers the new key once; the log keeps only its SHA-256. The "
            "previous key stops working. A retry rotates again.",
            "operationId": operation_id("POST", ROUTE),
            "security": [{"bearer": []}],
            "responses": {
                "201": {"description": "the new key", "content": json_content(ANSWER)},
                **errors(
                    {
                        "401": "not signed in, or the token is expired or forged",
                        "403": "not a streamer",
                        "429": "rate limited (see Retry-After)",
                        "503": "not ready: retry soon",
                    }
                ),
            },
        }
    }
}
