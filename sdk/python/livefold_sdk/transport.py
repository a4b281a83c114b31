"""One REST call to the gateway, with what every call needs: the bearer token (refreshed once
on a 401 when the auth can refresh), an `Idempotency-Key` on writes (made once per call and
sent again on every retry, so a retried write never makes a second event), retries of what is
safe to retry (reads, and writes thanks to their key) after network errors, 429 and 5xx,
honouring Retry-After, and the gateway's error body turned into an `ApiError`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, TypedDict
from urllib.parse import quote

import httpx

from livefold_sdk.errors import ApiError, TransportError, Unauthorized, api_error

API = "/api/v1"
USER_AGENT = "livefold-sdk-python/0.1.0"
RETRIABLE = frozenset({429, 502, 503, 504})


class Accepted(TypedDict):
    """A write's answer (202): the event is in the log. Ids the gateway made come along."""

    event_id: str
    stream_id: NotRequired[str]
    message_id: NotRequired[str]
    poll_id: NotRequired[str]
    question_id: NotRequired[str]
    tip_id: NotRequired[str]
    payment: NotRequired[Any]


class TokenSource(Protocol):
    """What `auth=` may be besides a plain token: e.g. `livefold_sdk.Session`."""

    @property
    def refreshable(self) -> bool: ...

    def access_token(self, force_refresh: bool = False) -> str: ...

    async def aaccess_token(self, force_refresh: bool = False) -> str: ...


Auth = str | TokenSource | None


def segment(value: str) -> str:
    """A path parameter, escaped (ids and terms may hold '/', spaces...)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"a path parameter must be a non-empty string, not {value!r}")
    return quote(value, safe="")


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # under /api/v1 unless `raw`
    body: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    write: bool = False  # an event write: gets an Idempotency-Key, may be retried
    idempotency_key: str | None = None
    raw: bool = False  # `path` is from the root (accounts, OAuth)
    wait: float | None = None  # a write: `Prefer: wait=<seconds>`, answered with its outcome

    @property
    def retry_safe(self) -> bool:
        return self.method == "GET" or self.write


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 0.2  # seconds before the 2nd attempt, doubling after
    max_wait: float = 5.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        wait = self.backoff * 2.0 ** (attempt - 1)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_wait)


def retry_after_of(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def outcome(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None for 204); an `ApiError` for anything else."""
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        raise api_error(response.status_code, body, retry_after_of(response))
    return body


@dataclass
class Attempt:
    """The state of one call across its attempts."""

    call: Call
    policy: RetryPolicy
    number: int = 0
    refreshed: bool = False
    key: str = field(default="")

    def __post_init__(self) -> None:
        if self.call.write:
            self.key = self.call.idempotency_key or str(uuid.uuid4())

    def request(self, base_url: str, token: str | None) -> dict[str, Any]:
        call = self.call
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if call.write:
            headers["Idempotency-Key"] = self.key
            if call.wait is not None:
                headers["Prefer"] = f"wait={max(0, round(call.wait))}"
        params = {k: v for k, v in (call.params or {}).items() if v is not None}
        url = base_url.rstrip("/") + ("" if call.raw else API) + call.path
        options: dict[str, Any] = {"headers": headers, "params": params}
        if call.body is not None:
            options["json"] = dict(call.body)
        return {"method": call.method, "url": url, **options}

    def again_after(self, problem: Exception, refreshable: bool) -> float | None:
        """Seconds to wait before trying again, or None to give up with `problem`."""
        self.number += 1
        if isinstance(problem, Unauthorized) and refreshable and not self.refreshed:
            self.refreshed = True
            self.number -= 1  # a refreshed token is not a retry
            return 0.0
        if not self.call.retry_safe or self.number >= self.policy.attempts:
            return None
        if isinstance(problem, ApiError):
            if problem.status not in RETRIABLE:
                return None
            return self.policy.delay(self.number, problem.retry_after)
        return self.policy.delay(self.number, None)

    def failure(self, problem: Exception) -> Exception:
        if isinstance(problem, httpx.HTTPError):
            call = self.call
            return TransportError(
                f"{call.method} {call.path}: {problem!r} (after {self.number} attempts)"
            )
        return problem


def _refreshable(auth: Auth) -> bool:
    return auth is not None and not isinstance(auth, str) and auth.refreshable


def send(http: httpx.Client, base_url: str, auth: Auth, call: Call, policy: RetryPolicy) -> Any:
    attempt = Attempt(call, policy)
    while True:
        try:
            token = auth if auth is None or isinstance(auth, str) else auth.access_token()
            return outcome(http.request(**attempt.request(base_url, token)))
        except (ApiError, httpx.HTTPError) as problem:
            wait = attempt.again_after(problem, _refreshable(auth))
            if wait is None:
                raise attempt.failure(problem) from problem
            if isinstance(problem, Unauthorized) and not isinstance(auth, str | None):
                auth.access_token(force_refresh=True)
            time.sleep(wait)


async def asend(
    http: httpx.AsyncClient, base_url: str, auth: Auth, call: Call, policy: RetryPolicy
) -> Any:
    attempt = Attempt(call, policy)
    while True:
        try:
            token = auth if auth is None or isinstance(auth, str) else await auth.aaccess_token()
            return outcome(await http.request(**attempt.request(base_url, token)))
        except (ApiError, httpx.HTTPError) as problem:
            wait = attempt.again_after(problem, _refreshable(auth))
            if wait is None:
                raise attempt.failure(problem) from problem
            if isinstance(problem, Unauthorized) and not isinstance(auth, str | None):
                await auth.aaccess_token(force_refresh=True)
            await asyncio.sleep(wait)
