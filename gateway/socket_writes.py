"""Writes over `/ws`, for the interactive hot path: a `send` frame is one write and goes the
very path of its HTTP route (`gateway.writes.perform`: rate limits, body rules, idempotency,
rights, the event and its append), then gets an `ack` once Kafka acknowledged the event, or an
`error` with the status and body the route would have answered.

    {"op": "send", "id": "<client ref>", "write": "polls.vote", "stream": "<stream id>",
     "body": {"poll_id": "<poll id>", "option_ids": ["a"]}}

The frame's `id` is the write's Idempotency-Key: the same frame sent again (after a reconnect,
to any gateway) makes the same event id, as that key on the HTTP route would. Path parameters
other than the stream go in `body`. Each write runs as a task, so the socket reads on while
Kafka acknowledges; at most MAX_IN_FLIGHT writes of a socket wait at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from gateway.errors import ApiError, invalid, unauthorized
from gateway.idempotency import MAX_KEY, is_valid_key
from gateway.limits import too_large
from gateway.runtime import Gateway
from gateway.writes import Submission, Write, json_object, perform, trace_id_of
from livefold.access.tokens import Principal
from streams.json_input import Refused
from streams.validation import FieldError

MAX_IN_FLIGHT = 64
ENVELOPE_BYTES = 1024  # what a send frame may hold besides a body of gateway_max_body_bytes
log = logging.getLogger("livefold.gateway")


class Writer(Protocol):
    """A socket as its writes need it (gateway.ws.Connection)."""

    gateway: Gateway
    websocket: HTTPConnection
    principal: Principal | None
    writes: set[asyncio.Task[None]]

    def send(self, document: dict[str, Any]) -> None: ...


def start(writer: Writer, frame: dict[str, Any], frame_bytes: int) -> str | None:
    """Begin the frame's write; the reason if the frame is malformed (the socket closes)."""
    ref = frame.get("id")
    if not is_valid_key(ref):
        return f'bad frame: send needs an "id" of 1..{MAX_KEY} printable ASCII characters'
    name = frame.get("write")
    write = writer.gateway.socket_writes.get(name) if isinstance(name, str) else None
    if write is None:
        return f'bad frame: "write" must be one of {", ".join(writer.gateway.socket_writes)}'
    stream_id = frame.get("stream")
    if not isinstance(stream_id, str) or not 0 < len(stream_id) <= 200:
        return 'bad frame: "stream" must be a stream id'
    try:
        principal = signed_in(writer)
        if len(writer.writes) >= MAX_IN_FLIGHT:
            reason = f"at most {MAX_IN_FLIGHT} writes per socket wait for Kafka; await their acks"
            raise ApiError(429, "rate_limited", reason, headers={"Retry-After": "1"})
        body = json_object(frame.get("body", {}))
        params = {"stream_id": stream_id, **path_params(write, body)}
    except ApiError as error:
        writer.send(refusal(ref, error))
        return None
    limit = writer.gateway.settings.gateway_max_body_bytes

    async def read_body() -> dict[str, Any]:
        if frame_bytes > limit + ENVELOPE_BYTES:
            raise too_large(limit)
        return body

    traceparent = frame.get("traceparent")
    submission = Submission(
        writer.websocket,
        principal,
        params,
        read_body,
        ref,
        trace_id_of(traceparent if isinstance(traceparent, str) else None),
    )
    task = asyncio.get_running_loop().create_task(_run(writer, write, ref, submission))
    writer.writes.add(task)
    task.add_done_callback(writer.writes.discard)
    return None


def refuse_text(writer: Writer, refused: Refused) -> bool:
    """Answer a send frame whose body (only) holds text livefold never takes with the error
    frame its route would answer (422); False when the frame itself is at fault."""
    frame = refused.value
    if not isinstance(frame, dict) or frame.get("op") != "send":
        return False
    if not is_valid_key(frame.get("id")):
        return False
    if not all(error.path.startswith(("body.", "body[")) for error in refused.errors):
        return False
    fields = [FieldError(e.path.removeprefix("body."), e.reason) for e in refused.errors]
    writer.send(refusal(frame["id"], invalid(fields, f"the body is {refused.reason}")))
    return True


def signed_in(writer: Writer) -> Principal:
    if writer.principal is None:
        raise unauthorized('sign in to write: connect with a token or send {"op": "auth"} first')
    if writer.principal.expired():  # the socket closes soon, unless refreshed
        raise unauthorized('token expired: send {"op": "auth"} with a fresh token')
    return writer.principal


def path_params(write: Write, body: dict[str, Any]) -> dict[str, str]:
    """Take the route's path parameters (besides the stream) out of a socket write's body."""
    params: dict[str, str] = {}
    problems: list[FieldError] = []
    for name in write.path_fields:
        value = body.pop(name, None)
        if isinstance(value, str) and value and "/" not in value:
            params[name] = value
        else:
            problems.append(FieldError(name, "is required: an id (a non-empty string, no '/')"))
    if problems:
        raise invalid(problems)
    return params


async def _run(writer: Writer, write: Write, ref: str, submission: Submission) -> None:
    try:
        done = await perform(write, writer.gateway, submission)
    except ApiError as error:
        writer.send(refusal(ref, error))
        return
    except Exception:
        log.exception("the socket write %s failed", write.socket_name)
        writer.send(refusal(ref, ApiError(500, "internal", "the gateway failed; try again")))
        return
    ack = {"type": "ack", "id": ref, **done.body}
    if done.replay:
        ack["replay"] = True
    writer.send(ack)


def refusal(ref: str, error: ApiError) -> dict[str, Any]:
    """The error frame: the HTTP route's status and body (`fields` always a list)."""
    document: dict[str, Any] = {"type": "error", "op": "send", "id": ref, "status": error.status}
    document.update(error.body())
    document.setdefault("fields", [])
    if (retry_after := error.headers.get("Retry-After")) is not None:
        document["retry_after"] = int(retry_after)
    return document
