"""Prometheus metrics of one gateway process, served at `/metrics`.

Fan-out counters grow once per broadcast (by the number of sockets written), not per socket:
a counter's lock taken 200k times a second would cost more than the sends.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
REGISTRY = CollectorRegistry()
PREFIX = "livefold_gateway"

poison_records = Counter(
    f"{PREFIX}_poison_records",
    "Records a reader of this process could not use and stepped over (alert on any), by reader:"
    " accounts (also dead-lettered), state (a state record that does not decode or apply)",
    ["reader"],
    registry=REGISTRY,
)
connections = Gauge(f"{PREFIX}_ws_connections", "Open WebSocket connections", registry=REGISTRY)
subscriptions = Gauge(
    f"{PREFIX}_ws_subscriptions", "Channel subscriptions of open sockets", registry=REGISTRY
)
frames_sent = Counter(
    f"{PREFIX}_ws_frames_sent", "WebSocket frames written to sockets", registry=REGISTRY
)
bytes_sent = Counter(
    f"{PREFIX}_ws_bytes_sent", "WebSocket bytes written to sockets", registry=REGISTRY
)
drops = Counter(
    f"{PREFIX}_ws_dropped",
    "Sockets closed by the gateway, by reason (slow: send buffer over its bound; expired: token;"
    " revoked: session ended or account deleted)",
    ["reason"],
    registry=REGISTRY,
)
broadcast_seconds = Histogram(
    f"{PREFIX}_ws_broadcast_seconds",
    "Time to write one batch frame to all its subscribers",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    registry=REGISTRY,
)
# Fine buckets for the chat path's stages (bench.gateway reads them to split the latency).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075,
                 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # fmt: skip
hub_hold_seconds = Histogram(
    f"{PREFIX}_ws_hold_seconds",
    "Time a batch waited in the hub, from its first record to its frame",
    buckets=STAGE_BUCKETS,
    registry=REGISTRY,
)
state_lag_seconds = Histogram(
    f"{PREFIX}_state_lag_seconds",
    "Time from a fold worker's producing a state record to the gateway's event loop having it",
    buckets=STAGE_BUCKETS,
    registry=REGISTRY,
)
resend_check_seconds = Histogram(
    f"{PREFIX}_resend_check_seconds",
    "Time a keyed write waited for the check that the log does not hold it yet (resends.py)",
    buckets=(0.00025, 0.0005, *STAGE_BUCKETS),
    registry=REGISTRY,
)
state_records = Counter(
    f"{PREFIX}_state_records", "Records read from the state topics", ["channel"], registry=REGISTRY
)
request_seconds = Histogram(
    f"{PREFIX}_http_request_seconds",
    "HTTP request latency by route",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
produce_seconds = Histogram(
    f"{PREFIX}_kafka_produce_seconds",
    "Time from append to Kafka's acknowledgement",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
rate_limited = Counter(
    f"{PREFIX}_rate_limited",
    "Requests and connections refused by a rate limit",
    ["kind"],
    registry=REGISTRY,
)


async def metrics_endpoint(request: Request) -> Response:
    """For the scraper holding `gateway_metrics_token` (the setting, else the install's own
    secret under data_dir/auth) only: metrics tell who is online and how busy the gateway is."""
    wanted = request.app.state.gateway.settings.secret("gateway_metrics_token")
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {wanted}".encode()):
        reason = "send Authorization: Bearer <gateway_metrics_token>"
        body = {"error": "unauthorized", "reason": reason}
        return JSONResponse(body, 401, headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class RequestTimer:
    """Observes each HTTP request's latency under its route template (not the raw path, whose
    ids would make a label per stream)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            request_seconds.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
