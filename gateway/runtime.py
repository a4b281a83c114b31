"""The gateway's long-lived parts, one set per process: the state store and rights fed by the
state feed, the fan-out hub, the producer, the verifier, the rate limits and the presence log
of the sockets watching a stream. The app's lifespan starts and stops them; handlers reach them
with `gateway_of(request)`."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from minio import Minio
from starlette.requests import HTTPConnection

from gateway import metrics
from gateway.auth.backend import Verifier
from gateway.errors import ApiError
from gateway.feed import FeedRecord, Reader, StateFeed
from gateway.hub import Hub
from gateway.idempotency import Answers
from gateway.limits import TokenBuckets
from gateway.outcomes import Outcomes, Position
from gateway.resends import LoggedWrites, keyed_headers
from gateway.rights import MODERATOR_CHANNELS, PLATFORM, Rights
from gateway.state import StateStore, as_stored
from gateway.texts import SealedTexts
from livefold.access.tokens import Principal
from livefold.folding import OUTCOMES
from livefold.settings import Settings
from livefold.storage import object_store
from streams.catalog import catalog
from streams.codec import Codec
from streams.events import Event
from streams.inboxes import CHANNEL as NOTIFICATIONS
from streams.inboxes import Inboxes
from streams.presence import PresenceLog
from streams.producer import Ack, AppendError, EventProducer, Headers
from streams.validation import EventValidationError

if TYPE_CHECKING:
    from gateway.frames import Wire
    from gateway.writes import Write

log = logging.getLogger("livefold.gateway")
CREATED_REMEMBERED = 10_000  # streams created here whose view may not have arrived yet


class Member(Protocol):
    """A socket as the hub knows it (gateway.ws.Connection)."""

    user_id: str | None
    topics: set[tuple[str, str]]
    watching: dict[str, str]  # stream id -> presence session id

    def send_frame(self, wire: Wire) -> int: ...

    def recheck(self) -> None: ...


class Gateway:
    def __init__(self, settings: Settings, verifier: Verifier, texts: SealedTexts | None = None):
        """`texts`: seals what users write with their data keys and opens it for clients
        (gateway/texts.py); without it (no accounts here), texts go as they are."""
        self.settings = settings
        self.verifier = verifier
        self.texts = texts
        self.store = StateStore(
            settings.gateway_ws_resume_limit, as_stored if texts is None else texts.opened
        )
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
        self.state_loaded = False
        # The tips payment seam: a gateway.tips.PaymentFlow, set by the payments integration.
        self.payments: Any = None
        self.socket_writes: dict[str, Write] = {}  # writes a `send` frame may name, by name
        self.presence = PresenceLog(
            self.append_observed, settings.gateway_presence_heartbeat_seconds
        )
        self._codec: Codec | None = None
        self._producer: EventProducer | None = None
        self._feed: StateFeed | None = None
        self._logged: LoggedWrites | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self._created: dict[str, None] = {}  # streams created here, oldest first
        self.outcomes = Outcomes()
        self.inboxes = Inboxes()
        # Other threads the process needs, by name (the accounts follower): True while alive.
        self.vitals: dict[str, Callable[[], bool]] = {}

    async def start(self, sources: dict[str, Reader] | None = None) -> None:
        """Connect, and start following `sources` (default: the state topics) and the accounts
        log's changes (sockets of a user whose session, account or roles changed recheck)."""
        # Schema ids are fetched once here, not by the first request of each type.
        await asyncio.to_thread(self.codec.register_all)
        # A client waits on each append, and the folds behind it: linger 2 ms, not the 10 ms
        # bulk appends batch with (a busy gateway still batches what queues up while its
        # requests are in flight).
        self._producer = EventProducer(self.settings, self.codec, **{"linger.ms": 2})
        loop = asyncio.get_running_loop()

        def account_changed(user_id: str) -> None:  # on the accounts follower's thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(self.hub.recheck_user, user_id)

        self.verifier.watch(account_changed)
        self._feed = StateFeed(self.settings, loop, self.on_records, sources)
        self._feed.start()
        self._logged = LoggedWrites(self.settings, loop, catalog().topics())
        await asyncio.to_thread(self._logged.start)
        self.hub.start()
        self._heartbeats = loop.create_task(self._beat())

    async def stop(self) -> None:
        await self.hub.stop()
        if self._heartbeats is not None:
            self._heartbeats.cancel()
        self.presence.leave_all()  # before the producer's close, which delivers what is queued
        if self._feed is not None:
            await asyncio.to_thread(self._feed.stop)
        if self._logged is not None:
            await asyncio.to_thread(self._logged.stop)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, 10.0)

    def failures(self) -> list[str]:
        """The parts of this process that stopped working (empty while it works)."""
        found = [name for name, alive in self.vitals.items() if not alive()]
        if self._feed is not None and not self._feed.alive:
            found.append(f"state feed: {self._feed.failure or 'stopped'}")
        if self._logged is not None and self._logged.failure is not None:
            found.append(f"resend check: {self._logged.failure!r}")
        if self._heartbeats is not None and self._heartbeats.done():
            found.append("presence heartbeats: stopped")
        return found

    async def wait_ready(self, timeout: float) -> bool:
        if self._feed is None:
            return False
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._feed.caught_up.wait(), timeout)
        except TimeoutError:
            return False
        while not self.ready and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.ready

    # ------------------------------------------------------------ state in

    def on_records(self, records: list[FeedRecord], caught_up: bool) -> None:
        channels: Counter[str] = Counter()
        rights_lost: set[str] = set()
        now_ms = time.time() * 1000
        for record in records:
            if record.written_ms:
                metrics.state_lag_seconds.observe((now_ms - record.written_ms) / 1000)
            message = record.message
            if message.channel == OUTCOMES:
                self.outcomes.folded(message.value)
                continue
            if message.channel == NOTIFICATIONS:  # personal: never in the store or subscribed
                for users, notification in self.inboxes.apply(message):
                    self.hub.notify(users, notification)
                channels[message.channel] += 1
                continue
            try:
                if message.kind == "rejected":
                    self.outcomes.rejected(message.value)
                entry = self.store.apply(record.partition, record.offset, message)
                if self.rights.apply(message):
                    rights_lost.add(message.stream_id)
                self.hub.publish(message.channel, message.stream_id, entry)
            except Exception:  # one bad record (a bug, or not written by the folds) is skipped
                log.exception(
                    "state record %s %r at partition %d offset %d not applied",
                    message.channel,
                    message.key,
                    record.partition,
                    record.offset,
                )
                metrics.poison_records.labels("state").inc()
                continue
            channels[message.channel] += 1
        for channel, count in channels.items():
            metrics.state_records.labels(channel).inc(count)
        for stream_id in sorted(rights_lost):  # platform admins moderate every stream
            scope = None if stream_id == PLATFORM else stream_id
            self.hub.recheck_subscribers(MODERATOR_CHANNELS, scope)
        if caught_up and not self.state_loaded:
            self.state_loaded = True
            log.info("gateway caught up with the state topics (%d records)", self.store.records)

    @property
    def ready(self) -> bool:
        """Whether this gateway has loaded the state and read the keyed writes of the resend
        window, so that it can answer reads and writes at once."""
        return self.state_loaded and self._logged is not None and self._logged.caught_up

    def require_ready(self) -> None:
        if not self.ready:
            raise ApiError(
                503,
                "unavailable",
                "the gateway is still loading state; retry soon",
                headers={"Retry-After": "1"},
            )

    def stream_exists(self, stream_id: str) -> bool:
        return self.store.view("stream", stream_id) is not None or stream_id in self._created

    def stream_created(self, stream_id: str, streamer: str) -> None:
        """This gateway appended the stream's Created (Kafka acknowledged it): the stream and
        its owner are known here before its view comes back from the folds, so its creator's
        next request (chat, a poll) is not a 404 or 403 for the 100-200 ms that takes."""
        self._created[stream_id] = None
        if len(self._created) > CREATED_REMEMBERED:
            del self._created[next(iter(self._created))]
        self.rights.stream_created(stream_id, streamer)

    # ------------------------------------------------------------ events out

    async def append_once(self, event: Event) -> bool:
        """`append` a keyed write (a client's Idempotency-Key or frame id made its event id)
        unless the log holds it already, from an attempt whose answer was lost (True then)."""
        assert self._logged is not None, "the gateway is not started"
        started = time.perf_counter()
        found = await self._logged.find(self.codec.topic_of(event), event.event_id)
        metrics.resend_check_seconds.observe(time.perf_counter() - started)
        if found is None:
            await self.append(event, keyed_headers(event.event_id))
            return False
        position = Position(event.actor_id, event.type, found.topic, found.partition, found.offset)
        self.outcomes.appended(position, event.event_id)
        return True

    async def append(self, event: Event, headers: Headers | None = None) -> Ack:
        """Validate (EventValidationError), produce, and return once Kafka acknowledged."""
        assert self._producer is not None, "the gateway is not started"
        started = time.perf_counter()
        future = self._producer.append(event, headers)
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
        if self._logged is not None:
            self._logged.appended(ack, keyed=headers is not None)
        position = Position(event.actor_id, event.type, ack.topic, ack.partition, ack.offset)
        self.outcomes.appended(position, event.event_id)
        return ack

    def append_observed(self, event: Event) -> None:
        """Append what the gateway observed itself (presence), without waiting: no client
        waits on it. A failure is logged."""
        if self._producer is None:
            return
        try:
            future = self._producer.append(event)
        except EventValidationError as error:
            log.error("not appended: %s", error)
            return
        future.add_done_callback(_log_failure)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.presence.tick_seconds)
            self.presence.beat()

    @functools.cached_property
    def objects(self) -> Minio:
        """The object store (clips, thumbnails, recordings), for presigned links."""
        return object_store(self.settings)

    @property
    def codec(self) -> Codec:
        if self._codec is None:
            self._codec = Codec.from_settings(self.settings)
            self._codec.sealer = self.texts
        return self._codec

    # ------------------------------------------------------------ sockets

    def hub_leave(self, member: Member) -> None:
        for channel, stream_id in member.topics:
            self.hub.unsubscribe(member, channel, stream_id)
        member.topics.clear()
        for session_id in member.watching.values():
            self.presence.leave(session_id)
        member.watching.clear()
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


def _log_failure(future: Future[Ack]) -> None:
    if (error := future.exception()) is not None:
        log.warning("observed event not appended: %s", error)


def client_ip(connection: HTTPConnection) -> str:
    client = connection.client
    return client.host if client is not None else "unknown"


def gateway_of(connection: HTTPConnection) -> Gateway:
    gateway: Any = connection.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway
