"""What the SDK raises. The gateway refuses with a JSON body `{"error", "reason", "fields"}`
(the accounts API says `error_description` for `reason`); `ApiError` carries all of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class LivefoldError(Exception):
    """Base of every error the SDK raises."""


@dataclass(frozen=True)
class FieldProblem:
    """One field the gateway refused, and why (`field` may be a path such as `options.0.text`)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class ApiError(LivefoldError):
    """The gateway answered with an error status. `error` is its machine-readable code
    (`invalid`, `forbidden`, `not_found`, ...), `reason` the human one, `fields` the fields
    at fault, `body` the whole JSON answer."""

    def __init__(
        self,
        status: int,
        error: str,
        reason: str,
        fields: tuple[FieldProblem, ...] = (),
        body: Any = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.error = error
        self.reason = reason
        self.fields = fields
        self.body = body
        self.retry_after = retry_after
        details = "; ".join(str(problem) for problem in fields)
        super().__init__(f"{status} {error}: {reason}" + (f" ({details})" if details else ""))

    def field(self, name: str) -> str | None:
        """The reason given for one field, if it was at fault."""
        return next((problem.reason for problem in self.fields if problem.field == name), None)


class InvalidRequest(ApiError):
    """400/413/415/422: the request (body, parameters, headers) is not valid; see `fields`."""


class Unauthorized(ApiError):
    """401: no token, or an expired or forged one."""


class Forbidden(ApiError):
    """403: signed in, but not allowed to do this (e.g. not a moderator of this stream)."""


class NotFound(ApiError):
    """404: the stream, message, poll... is not known to the gateway."""


class Conflict(ApiError):
    """409: e.g. an Idempotency-Key reused for a different request, reactions turned off."""


class RateLimited(ApiError):
    """429: too many requests; `retry_after` says how long to wait."""


class Unavailable(ApiError):
    """502/503/504: the gateway or the event log is not available now; retry."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def api_error(status: int, body: Any, retry_after: float | None = None) -> ApiError:
    """The exception for an error answer; `body` is its parsed JSON (or text, if it was not)."""
    error, reason = "http_error", f"HTTP {status}"
    fields: tuple[FieldProblem, ...] = ()
    if isinstance(body, dict):
        error = str(body.get("error") or error)
        reason = str(body.get("reason") or body.get("error_description") or reason)
        fields = tuple(
            FieldProblem(str(item.get("field", "")), str(item.get("reason", "")))
            for item in body.get("fields") or ()
            if isinstance(item, dict)
        )
    elif isinstance(body, str) and body.strip():
        reason = body.strip()[:500]
    kind = _BY_STATUS.get(status, ApiError)
    return kind(status, error, reason, fields, body, retry_after)


class TransportError(LivefoldError):
    """The gateway could not be reached (or stopped answering), even after retries."""


class OAuthError(LivefoldError):
    """The authorization server refused: `error` is the OAuth code (`invalid_grant`, ...)."""

    def __init__(self, status: int, error: str, description: str):
        self.status = status
        self.error = error
        self.description = description
        super().__init__(f"{status} {error}: {description}" if description else f"{status} {error}")


class SubscriptionClosed(LivefoldError):
    """The gateway closed the subscription for good: a bad frame (4400), a refused token
    (4401, after one refresh), or the reconnect attempts ran out. `code` and `reason` are the
    last close frame's."""

    def __init__(self, code: int | None, reason: str):
        self.code = code
        self.reason = reason
        super().__init__(f"subscription closed ({code}): {reason}")


class DecodeError(LivefoldError):
    """A Kafka record is not a livefold event this SDK can decode (see `livefold_sdk.kafka`)."""

    def __init__(self, reason: str, topic: str = "", partition: int = -1, offset: int = -1):
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        where = f" at {topic}[{partition}]@{offset}" if topic else ""
        super().__init__(f"undecodable record{where}: {reason}")
