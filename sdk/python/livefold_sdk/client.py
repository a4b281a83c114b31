"""The REST clients: `Livefold` (blocking) and `AsyncLivefold` (asyncio), with the same
methods (`livefold_sdk.api.Endpoints`).

    with Livefold("https://live.example.org", auth=session) as live:
        stream_id = live.create_stream("Speedrun", "Games")["stream_id"]

`auth` is an access token, a `Session` (refreshed as needed), or None for public reads.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import httpx

from livefold_sdk.api import Endpoints, Json
from livefold_sdk.closing import Closing
from livefold_sdk.subscription import Subscription
from livefold_sdk.transport import Accepted, Auth, Call, RetryPolicy, asend, send

Http = TypeVar("Http", httpx.Client, httpx.AsyncClient)


class _HttpClient(Generic[Http]):
    """What both clients hold: the gateway, the auth, the retry policy and an HTTP client
    (theirs if given, else one of their own that `close`/`aclose` closes)."""

    def __init__(
        self,
        base_url: str,
        auth: Auth = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: Http | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        self.http: Http = http or self._new_http(timeout)
        self.wait: float | None = None

    def _new_http(self, timeout: float) -> Http:
        raise NotImplementedError

    def waiting(self, seconds: float = 10.0) -> Self:
        """This client (same connection, auth and retries) whose writes wait for their outcome:
        each is sent with `Prefer: wait=<seconds>` and returns `{"event_id", ..., "status":
        "applied" | "rejected" | "pending", "reason", "event_type"}`, pending only if the folds
        took longer than `seconds` (the gateway caps the wait; docs/gateway.md)."""
        view = copy.copy(self)
        view._owns_http = False
        view.wait = seconds
        return view

    def _prepared(self, call: Call) -> Call:
        return dataclasses.replace(call, wait=self.wait) if call.write else call


class Livefold(Endpoints[Accepted, Json], _HttpClient[httpx.Client], Closing):
    def _new_http(self, timeout: float) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def _accept(self, call: Call) -> Accepted:
        return cast(Accepted, self.request(call))

    def _json(self, call: Call) -> Json:
        return cast(Json, self.request(call))

    def request(self, call: Call) -> Any:
        """Any call the typed methods do not cover, with the same auth, keys and retries."""
        return send(self.http, self.base_url, self.auth, self._prepared(call), self.retry)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


class AsyncLivefold(
    Endpoints[Awaitable[Accepted], Awaitable[Json]], _HttpClient[httpx.AsyncClient]
):
    def _new_http(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout)

    async def _send(self, call: Call) -> Any:
        return await asend(self.http, self.base_url, self.auth, self._prepared(call), self.retry)

    def _accept(self, call: Call) -> Awaitable[Accepted]:
        return cast(Awaitable[Accepted], self._send(call))

    def _json(self, call: Call) -> Awaitable[Json]:
        return cast(Awaitable[Json], self._send(call))

    async def request(self, call: Call) -> Any:
        return await self._send(call)

    def subscription(self, **options: Any) -> Subscription:
        """A live subscription to this gateway with the same auth (see `Subscription`)."""
        return Subscription(self.base_url, auth=self.auth, **options)

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncLivefold:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
