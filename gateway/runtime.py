"""The gateway's long-lived parts, one set per process: the state store and rights fed by the
state feed, the fan-out hub, the producer, the verifier and the rate limits. The app's
lifespan starts and stops them; handlers reach them with `gateway_of(request)`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import HTTPConnection

from gateway import metrics
from gateway.auth.backend import Verifier
from gateway.auth.tokens import Principal
from gateway.errors import ApiError
from gateway.feed import FeedRecord, Reader, StateFeed
from gateway.hub import Hub
from gateway.idempotency import Answers
from gateway.limits import TokenBuckets
from gateway.rights import Rights
from gateway.state import StateStore
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import Event
from streams.producer import Ack, AppendError, EventProducer

if TYPE_CHECKING:
    from gateway.frames import Wire
    from gateway.writes import Write

log = logging.getLogger("livefold.gateway")


class Member(Protocol):
    """A socket as the hub knows it (gateway.ws.Connection)."""

    user_id: str | None
    topics: set[tuple[str, str]]

    def send_frame(self, wire: Wire) -> int: ...


class Gateway:
    def __init__(self, settings: Settings, verifier: Verifier):
        self.settings = settings
        self.verifier = verifier
        self.store = StateStore(settings.gateway_ws_resume_limit)
        self.rights = Rights()
        self.hub = Hub(self.store, settings.gateway_ws_batch_ms / 1000)
        self.answers = Answers()
        replicas = settings.gateway_replicas
        self.user_writes = TokenBuckets(settings.gateway_user_writes_per_second, replicas=replicas)
        self.ip_writes = TokenBuckets(settings.gateway_ip_writes_per_second, replicas=replicas)
        self.user_connects = TokenBuckets(
            settings.gateway_user_connects_per_second, replicas=replicas
        )
        self.ip_connects = TokenBuckets(settings.gateway_ip_connects_per_second, replicas=replicas)
        self.ready = False
        # The tips payment seam: a gateway.tips.PaymentFlow, set by the payments integration.
        self.payments: Any = None
        self.socket_writes: dict[str, Write] = {}  # writes a `send` frame may name, by name
        self._codec: Codec | None = None
        self._producer: EventProducer | None = None
        self._feed: StateFeed | None = None

    async def start(self, sources: dict[str, Reader] | None = None) -> None:
        """Connect, and start following `sources` (default: the state topics)."""
        # Schema ids are fetched once here, not by the first request of each type.
        await asyncio.to_thread(self.codec.register_all)
        # A client waits on each append, and the folds behind it: linger 2 ms, not the 10 ms
        # bulk appends batch with (a busy gateway still batches what queues up while its
        # requests are in flight).
        self._producer = EventProducer(self.settings, self.codec, **{"linger.ms": 2})
        loop = asyncio.get_running_loop()
        self._feed = StateFeed(self.settings, loop, self.on_records, sources)
        self._feed.start()
        self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        if self._feed is not None:
            await asyncio.to_thread(self._feed.stop)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, 10.0)

    async def wait_ready(self, timeout: float) -> bool:
        if self._feed is None:
            return False
        try:
            await asyncio.wait_for(self._feed.caught_up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------ state in

    def on_records(self, records: list[FeedRecord], caught_up: bool) -> None:
        channels: Counter[str] = Counter()
        now_ms = time.time() * 1000
        for record in records:
            if record.written_ms:
                metrics.state_lag_seconds.observe((now_ms - record.written_ms) / 1000)
            message = record.message
            entry = self.store.apply(record.partition, record.offset, message)
            self.rights.apply(message)
            self.hub.publish(message.channel, message.stream_id, entry)
            channels[message.channel] += 1
        for channel, count in channels.items():
            metrics.state_records.labels(channel).inc(count)
        if caught_up and not self.ready:
            self.ready = True
            log.info("gateway caught up with the state topics (%d records)", self.store.records)

    def require_ready(self) -> None:
        if not self.ready:
            raise ApiError(
                503,
                "unavailable",
                "the gateway is still loading state; retry soon",
                headers={"Retry-After": "1"},
            )

    # ------------------------------------------------------------ events out

    async def append(self, event: Event) -> Ack:
        """Validate (EventValidationError), produce, and return once Kafka acknowledged."""
        assert self._producer is not None, "the gateway is not started"
        started = time.perf_counter()
        future = self._producer.append(event)
        try:
            ack = await asyncio.wrap_future(future)
        except AppendError as error:
            log.warning("append failed: %s", error)
            raise ApiError(
                503,
                "unavailable",
                "the event log did not accept the event; retry with the same Idempotency-Key",
                headers={"Retry-After": "1"},
            ) from error
        metrics.produce_seconds.observe(time.perf_counter() - started)
        return ack

    @property
    def codec(self) -> Codec:
        if self._codec is None:
            self._codec = Codec.from_settings(self.settings)
        return self._codec

    # ------------------------------------------------------------ sockets

    def hub_leave(self, member: Member) -> None:
        for channel, stream_id in member.topics:
            self.hub.unsubscribe(member, channel, stream_id)
        member.topics.clear()
        self.hub.sign_out(member)

    def connection_allowed(self, connection: HTTPConnection, principal: Principal | None) -> float:
        """0.0 if this client may open another socket now, else seconds to wait."""
        wait = self.ip_connects.take(client_ip(connection))
        if wait == 0.0 and principal is not None:
            wait = self.user_connects.take(principal.user_id)
        if wait > 0:
            metrics.rate_limited.labels("connect").inc()
        return wait

    def frame_buckets(self) -> TokenBuckets:
        return TokenBuckets(self.settings.gateway_ws_frames_per_second, keys_kept=1)


def client_ip(connection: HTTPConnection) -> str:
    client = connection.client
    return client.host if client is not None else "unknown"


def gateway_of(connection: HTTPConnection) -> Gateway:
    gateway: Any = connection.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway
