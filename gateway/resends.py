"""A write sent again is appended once, also by a gateway that never saw its first attempt.

A client whose request went unanswered (its gateway restarted, or Kafka did and the append
timed out) sends it again with the same Idempotency-Key (over a socket: the same frame id), which
makes the same event id (gateway/idempotency.py). Within one gateway the resend waits for its
first attempt's outcome (`Answers.attempt`). Otherwise the log is asked: every keyed write is
appended with its event id in the record header `livefold.keyed_event_id`, `LoggedWrites`
follows those headers on the event topics (from `gateway_resend_window_seconds` ago, then as
they come), and before appending a keyed write the gateway reads the current end of each
partition of the event's topic and waits until every record before it is known: read by the
follower, or appended by this gateway itself (its acks say where, and what, each is). An id
found there is answered as the original was, and not appended again (docs/reliability.md).

The ends must be read after the check began, so checks share reads: one that begins while a
read waits for its thread (or for the read before it) joins it, up to the moment that thread
sends the request. Under load the threads' hand-offs, not the brokers, are most of the wait:
joining a read until it is sent, not only until it is scheduled, spares many checks a second
read.

The records past what the follower read are mostly the gateway's own when it takes most of a
topic's writes (chat at 1,000 messages/s through one gateway): counting them, a keyed write
waits for one offsets request, not also for the follower's next fetch to bring them back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from bisect import bisect_left, insort
from collections import OrderedDict
from typing import cast

from confluent_kafka import Message

from gateway.errors import ApiError
from livefold.settings import Settings
from streams.consumer import Positions, TopicFollower, position_of, read_up_to
from streams.producer import Ack

RESEND_HEADER = "livefold.keyed_event_id"
WAIT_SECONDS = 10.0  # for the follower to reach the ends read; then 503, and the client retries
Found = tuple[str, Ack, int]  # event id, where it is, its record's timestamp (epoch ms)


def keyed_headers(event_id: str) -> list[tuple[str, str | bytes | None]]:
    return [(RESEND_HEADER, event_id.encode())]


class LoggedWrites:
    """Where the keyed writes of the last `window` seconds are in the log, by event id."""

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop, topics: list[str]):
        self.window_ms = int(settings.gateway_resend_window_seconds * 1000)
        self._loop = loop
        self._logged: OrderedDict[str, tuple[Ack, int]] = OrderedDict()  # oldest read first
        self._reached: Positions = {}
        # Offsets of the records this gateway appended that the follower has not read yet.
        self._own: dict[tuple[str, int], list[int]] = {}
        self._waiting: list[tuple[Positions, asyncio.Future[None]]] = []
        self._next_read: dict[str, _Read] = {}  # by topic: not yet sent, so others may join
        self._reading: dict[str, asyncio.Lock] = {topic: asyncio.Lock() for topic in topics}
        self._follower = TopicFollower(
            settings.kafka_config(), topics, self._on_batch, "livefold-gateway-resends"
        )

    def start(self, timeout: float = 60.0) -> None:
        """Blocking (Kafka's metadata and offsets): call it off the event loop."""
        self._follower.start(timeout, since_ms=int(time.time() * 1000) - self.window_ms)

    def stop(self) -> None:
        self._follower.stop()

    @property
    def caught_up(self) -> bool:
        """Whether the keyed writes the topics held when following began have all been read."""
        ends = self._follower.start_ends
        return ends is not None and read_up_to(self._reached, ends)

    @property
    def failure(self) -> BaseException | None:
        return self._follower.failure

    async def find(self, topic: str, event_id: str) -> Ack | None:
        """Where the log holds this keyed write, if it was appended within the window; read up
        to each partition's end of `topic` as it was after this call began (else ApiError 503)."""
        if (found := self._logged.get(event_id)) is not None:
            return found[0]
        ends = await self._ends_of(topic)
        if not self._known_up_to(ends):
            reached: asyncio.Future[None] = self._loop.create_future()
            self._waiting.append((ends, reached))
            try:
                await asyncio.wait_for(reached, WAIT_SECONDS)
            except TimeoutError:
                raise ApiError(
                    503,
                    "unavailable",
                    "the gateway could not yet check the log for an earlier attempt of this "
                    "write; retry with the same Idempotency-Key",
                    headers={"Retry-After": "1"},
                ) from None
        found = self._logged.get(event_id)
        return None if found is None else found[0]

    def appended(self, ack: Ack, keyed: bool) -> None:
        """A record this gateway appended, as Kafka acknowledged it: known without reading it
        back (a keyed one by its event id)."""
        at = (ack.topic, ack.partition)
        if ack.offset < self._reached.get(at, 0):
            return  # the follower read it already
        if keyed:
            self._logged.setdefault(ack.event_id, (ack, int(time.time() * 1000)))
        insort(self._own.setdefault(at, []), ack.offset)
        self._release_waiters()

    def _known_up_to(self, ends: Positions) -> bool:
        """Whether every record before `ends` was read by the follower or appended here."""
        for at, end in ends.items():
            reached = self._reached.get(at, 0)
            if reached >= end:
                continue
            own = self._own.get(at, ())
            if bisect_left(own, end) - bisect_left(own, reached) < end - reached:
                return False  # offsets are unique: fewer own ones than the gap is a stranger's
        return True

    async def _ends_of(self, topic: str) -> Positions:
        """The topic's partition ends, read after this call began: calls made before a read's
        request is sent share it."""
        upcoming = self._next_read.get(topic)
        if upcoming is None or not upcoming.join():
            upcoming = self._next_read[topic] = _Read(self._loop.create_future())
            self._loop.create_task(self._read_ends(topic, upcoming))
        return await asyncio.shield(upcoming.ends)

    async def _read_ends(self, topic: str, upcoming: _Read) -> None:
        async with self._reading[topic]:
            try:
                ends = await asyncio.to_thread(self._sent_and_read, upcoming, topic)
            except Exception as error:
                upcoming.ends.set_exception(
                    ApiError(
                        503,
                        "unavailable",
                        f"the event log did not answer ({error}); retry with the same "
                        "Idempotency-Key",
                        headers={"Retry-After": "1"},
                    )
                )
            else:
                upcoming.ends.set_result(ends)
            finally:
                if self._next_read.get(topic) is upcoming:
                    del self._next_read[topic]

    def _sent_and_read(self, upcoming: _Read, topic: str) -> Positions:
        """On a thread: close the read to joiners, then ask the brokers."""
        upcoming.close()
        return self._follower.end_offsets(WAIT_SECONDS, topic)

    def _on_batch(self, messages: list[Message], reached: Positions) -> None:
        """On the follower's thread: pick out the keyed writes, hand them to the loop."""
        found: list[Found] = []
        for message in messages:
            # A consumed record's headers are a list of (name, bytes) pairs.
            for name, value in cast(list[tuple[str, bytes | None]], message.headers() or []):
                if name == RESEND_HEADER and value is not None:
                    event_id = value.decode()
                    topic, partition, offset = position_of(message)
                    ack = Ack(event_id, topic, partition, offset)
                    found.append((event_id, ack, message.timestamp()[1]))
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._take, found, reached)

    def _take(self, found: list[Found], reached: Positions) -> None:
        for event_id, ack, written_ms in found:
            self._logged.setdefault(event_id, (ack, written_ms))  # the first one is the original
        self._reached.update(reached)
        for at, own in self._own.items():
            del own[: bisect_left(own, self._reached.get(at, 0))]  # read now
        horizon = time.time() * 1000 - self.window_ms
        while self._logged and next(iter(self._logged.values()))[1] < horizon:
            self._logged.popitem(last=False)
        self._release_waiters()

    def _release_waiters(self) -> None:
        still: list[tuple[Positions, asyncio.Future[None]]] = []
        for ends, waiter in self._waiting:
            if waiter.done():
                continue
            if self._known_up_to(ends):
                waiter.set_result(None)
            else:
                still.append((ends, waiter))
        self._waiting = still


class _Read:
    """A read of a topic's ends that checks may join until its request is about to be sent
    (`close`, on the reading thread)."""

    def __init__(self, ends: asyncio.Future[Positions]):
        self.ends = ends
        self._closed = False
        self._lock = threading.Lock()

    def join(self) -> bool:
        """Whether a check that began before this call may use this read (it is not sent)."""
        with self._lock:
            return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
