"""Token buckets per client (user id or IP address), and the request body size limit.

Buckets live in one process, with no shared memory between gateways. A limit is meant for the
whole deployment: with `gateway_replicas` = N gateways behind a load balancer that spreads
requests evenly, each enforces 1/N of it (rate and burst), so a client spread over all of them
gets about the configured rate. A balancer that pins a client to one gateway (sticky sessions,
hashing by address) gives that client 1/N: set N to 1 there and size the limits per gateway.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.errors import ApiError


class TokenBuckets:
    """`rate` tokens a second per key, up to a burst of `burst`; idle keys are forgotten."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        keys_kept: int = 100_000,
        replicas: int = 1,
    ):
        """`replicas`: gateways sharing the limit; this one keeps 1/`replicas` of it."""
        self.rate = rate / replicas
        self.burst = max(1.0, (burst if burst is not None else 2 * rate) / replicas)
        self.keys_kept = keys_kept
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token; 0.0 if granted, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
        if len(self._buckets) > self.keys_kept:
            self._buckets.popitem(last=False)
        return wait


def too_many(kind: str, wait: float, what: str) -> ApiError:
    metrics.rate_limited.labels(kind).inc()
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429,
        "rate_limited",
        f"{what}; retry in {seconds}s",
        headers={"Retry-After": str(seconds)},
    )


class BodyLimit:
    """Refuses a request whose Content-Length is over `limit` bytes with 413 before any handler
    runs; a body sent without a length is counted as it is read (gateway.writes.read_json)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                    await self._refuse(send)
                    return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        body = too_large(self.limit).body()
        await JSONResponse(body, 413)({"type": "http"}, _nothing, send)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is over {limit} bytes")


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
