"""Writes: one HTTP request (or one `send` frame on a socket, gateway/socket_writes.py) becomes
one event, appended and acknowledged by Kafka before the client hears 202 `{"event_id": ...}`.

Each write endpoint is declared as a `Write` (which event, who may, which payload fields come
from the path or are set by the gateway); `endpoint(write)` makes its handler and
gateway/openapi.py its documentation, so the two cannot disagree. The body is the event's
payload as JSON; the codec validates it against the Avro schema and livefold's rules, and its
field errors become the 422 body. `perform` is the one path of every write, over either door:
rate limits, body rules, idempotency, rights, the event and its append.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from gateway import idempotency
from gateway.auth.backend import Caller
from gateway.errors import ApiError, forbidden, invalid, not_found, unauthorized
from gateway.limits import too_large, too_many
from gateway.rights import UNRESTRICTED
from gateway.runtime import Gateway, client_ip, gateway_of
from livefold.access.tokens import Principal
from streams import json_input
from streams.events import ENVELOPE_FIELDS, Event, new_event
from streams.validation import EventValidationError, FieldError

API = "/api/v1"
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


class Who(Enum):
    ANYONE = "any signed-in user"
    STREAMER = "users with the streamer role"
    OWNER = "the stream's streamer (or an admin)"
    MODERATOR = "the stream's streamer, its moderators and admins"


@dataclass
class Context:
    """What a write's `prepare` hook sees and may change before the event is made."""

    request: HTTPConnection  # the HTTP request, or the socket's (for a socket write)
    gateway: Gateway
    principal: Principal
    stream_id: str
    event_id: str
    payload: dict[str, Any]
    answer: dict[str, Any] = field(default_factory=dict)  # extra fields of the 202 body


Prepare = Callable[[Context], Awaitable[None]]
After = Callable[[Context, Event], Awaitable[None]]


@dataclass(frozen=True)
class Write:
    method: str
    path: str  # under /api/v1
    event_type: str
    summary: str
    who: Who
    path_fields: tuple[str, ...] = ()  # path parameters copied into the payload
    generated: tuple[str, ...] = ()  # payload ids derived from the event id, echoed back
    fixed: Mapping[str, Any] = field(default_factory=dict)  # payload fields set by the route
    defaults: Mapping[str, Any] = field(default_factory=dict)  # used when the body omits them
    prepare: Prepare | None = None  # checks and fields that need the state or the caller
    after: After | None = None  # once Kafka acknowledged (e.g. start a payment)
    new_stream: bool = False  # the event creates the stream: its id is generated too
    account: bool = False  # the caller's own (keyed by their user id, as account events are)
    socket_name: str | None = None  # also a `send` frame's "write" on /ws (the hot path)
    # Body fields that are not the event's, which `prepare` turns into the event's (JSON
    # schemas, for the documentation), and event fields they make optional.
    extra_fields: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    optional: tuple[str, ...] = ()

    @property
    def route(self) -> str:
        return API + self.path

    @property
    def set_by_gateway(self) -> frozenset[str]:
        return (
            frozenset(ENVELOPE_FIELDS)
            | set(self.path_fields)
            | set(self.generated)
            | set(self.fixed)
        )


def principal_of(request: Request) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Caller):
        raise unauthorized("sign in: send 'Authorization: Bearer <access token>'")
    return user.principal


async def read_body(request: Request, limit: int) -> bytes:
    """The body, counted as it streams in (413 past `limit`, even without a Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "disconnected", "the client left before sending its body") from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON (None when empty), through the one decoding step (json_input)."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return None
    try:
        return json_input.decode(raw)
    except json_input.Refused as refused:
        raise invalid(refused.errors, f"the body is {refused.reason}") from None


def check_allowed(gateway: Gateway, who: Who, principal: Principal, stream_id: str) -> None:
    rights = gateway.rights
    if who is Who.STREAMER and not ({"streamer", "admin"} & principal.roles):
        raise forbidden("only users with the streamer role may create streams")
    if who is Who.OWNER and not rights.owns(principal, stream_id):
        raise forbidden(f"only the streamer of {stream_id} may do this")
    if who is Who.MODERATOR and not rights.can_moderate(principal, stream_id):
        raise forbidden(f"only moderators of {stream_id} may do this")


def stream_known(gateway: Gateway, stream_id: str) -> None:
    if not gateway.stream_exists(stream_id):
        raise not_found(f"stream {stream_id!r}")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` (a header, or a socket write's field)."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    return match.group(1) if match else None


def json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid([FieldError("body", "must be a JSON object")])
    return body


@dataclass(frozen=True)
class Submission:
    """One write as a client sent it, over HTTP or a socket. `body` is read only once the
    checks before it passed (HTTP counts it as it streams in); `params` are the path's."""

    connection: HTTPConnection
    principal: Principal
    params: Mapping[str, str]
    body: Callable[[], Awaitable[Any]]
    key: str | None  # the Idempotency-Key (a socket write's frame id)
    trace_id: str | None


@dataclass(frozen=True)
class Accepted:
    body: dict[str, Any]  # {"event_id", <generated ids>, ...}
    replay: bool  # the recalled answer to an earlier request with this key


async def perform(write: Write, gateway: Gateway, submission: Submission) -> Accepted:
    """Check, make and append the event; return once Kafka acknowledged it (else ApiError)."""
    principal = submission.principal
    limited(gateway, submission.connection, principal)
    gateway.require_ready()
    body = await submission.body()
    body = json_object({} if body is None else body)
    taken = sorted(write.set_by_gateway & body.keys())
    if taken:
        raise invalid([FieldError(name, "is set by the gateway, not the client") for name in taken])
    if submission.key is None:
        return await append_write(write, gateway, submission, str(uuid.uuid4()), body)
    key = idempotency.validated_key(submission.key)
    path = write.route.format_map(submission.params)
    event_id = idempotency.event_id_for(principal.user_id, write.method, path, key)
    mark = idempotency.fingerprint(body)
    async with gateway.answers.attempt(event_id, mark) as earlier:
        if earlier is not None:
            return Accepted(earlier.body, replay=True)
        accepted = await append_write(write, gateway, submission, event_id, body)
        gateway.answers.remember(event_id, mark, 202, accepted.body)
        return accepted


async def append_write(
    write: Write, gateway: Gateway, submission: Submission, event_id: str, body: dict[str, Any]
) -> Accepted:
    """The rest of `perform`, once no earlier attempt of a keyed write answered it: rights,
    the event, its append (a keyed write only if the log does not hold it yet) and the answer."""
    principal, params = submission.principal, submission.params
    if write.account:
        stream_id = principal.user_id
    else:
        stream_id = event_id if write.new_stream else params["stream_id"]
        if not write.new_stream:
            stream_known(gateway, stream_id)
    check_allowed(gateway, write.who, principal, stream_id)
    if write.event_type not in UNRESTRICTED and not write.account:
        restricted = gateway.rights.restriction(principal, stream_id, int(time.time() * 1000))
        if restricted is not None:
            raise forbidden(restricted)
    payload = {**write.defaults, **body}
    payload.update({name: params[name] for name in write.path_fields})
    payload.update(dict.fromkeys(write.generated, event_id))
    payload.update(write.fixed)
    context = Context(submission.connection, gateway, principal, stream_id, event_id, payload)
    if write.prepare is not None:
        await write.prepare(context)
    event = new_event(
        write.event_type,
        stream_id=stream_id,
        actor_id=principal.user_id,
        event_id=event_id,
        trace_id=submission.trace_id,
        **context.payload,
    )
    try:
        if submission.key is None:
            await gateway.append(event)
            logged_before = False
        else:
            logged_before = await gateway.append_once(event)
    except EventValidationError as error:
        raise invalid(error.errors, f"not a valid {write.event_type}") from error
    answer_body = {"event_id": event_id, **{name: event_id for name in write.generated}}
    if write.new_stream:
        answer_body["stream_id"] = stream_id
        gateway.stream_created(stream_id, principal.user_id)
    if write.after is not None:
        await write.after(context, event)
    answer_body.update(context.answer)
    return Accepted(answer_body, replay=logged_before)


def endpoint(write: Write) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        gateway = gateway_of(request)
        limit = gateway.settings.gateway_max_body_bytes
        submission = Submission(
            request,
            principal_of(request),
            request.path_params,
            lambda: read_json(request, limit),
            request.headers.get(idempotency.HEADER),
            trace_id_of(request.headers.get("traceparent")),
        )
        wait = preferred_wait(request.headers.get("prefer"), gateway)
        done = await perform(write, gateway, submission)
        headers = {"Idempotent-Replay": "true"} if done.replay else {}
        if wait is None:
            return JSONResponse(done.body, 202, headers=headers)
        outcome = await gateway.outcomes.wait(done.body["event_id"], wait)
        status = (outcome or {}).get("status", "pending")
        body = {**done.body, "status": status}
        if outcome is not None:
            body.update(event_type=outcome["event_type"], reason=outcome["reason"])
        headers["Preference-Applied"] = f"wait={wait:g}"
        return JSONResponse(body, 202 if status == "pending" else 200, headers=headers)

    handle.__name__ = write.event_type.rsplit(".", 1)[-1]
    handle.__doc__ = write.summary
    return handle


def preferred_wait(prefer: str | None, gateway: Gateway) -> float | None:
    """Seconds to hold the answer for the write's outcome, from `Prefer: wait=<seconds>`
    (RFC 7240) or `wait=applied` (the longest the gateway waits); None: answer at once."""
    longest = gateway.settings.gateway_prefer_wait_max_seconds
    for preference in (prefer or "").split(","):
        name, _, value = preference.split(";", 1)[0].strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"').lower()
        if value == "applied":
            return longest
        if value.isascii() and value.isdigit():
            return min(float(value), longest)
        raise ApiError(400, "bad_prefer", "Prefer: wait takes whole seconds or 'applied'")
    return None


def by_socket_name(writes: list[Write]) -> dict[str, Write]:
    return {write.socket_name: write for write in writes if write.socket_name is not None}


def limited(gateway: Gateway, connection: HTTPConnection, principal: Principal) -> None:
    wait = gateway.user_writes.take(principal.user_id)
    if wait > 0:
        raise too_many("user_write", wait, "too many writes from this user")
    wait = gateway.ip_writes.take(client_ip(connection))
    if wait > 0:
        raise too_many("ip_write", wait, "too many writes from this address")
