"""A write sent again is appended once, also by a gateway that never saw its first attempt.

A client whose request went unanswered (its gateway restarted, or Kafka did and the append
timed out) sends it again with the same Idempotency-Key (over a socket: the same frame id), which
makes the same event id (gateway/idempotency.py). Within one gateway the resend waits for its
first attempt's outcome (`Answers.attempt`). Otherwise the log is asked: every keyed write is
appended with its event id in the record header `livefold.keyed_event_id`, `LoggedWrites`
follows those headers on the event topics (from `gateway_resend_window_seconds` ago, then as
they come), and before appending a keyed write the gateway reads the current end of each
partition of the event's topic and waits until the follower has read that far. An id found
there is answered as the original was, and not appended again (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import time
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
        self._waiting: list[tuple[Positions, asyncio.Future[None]]] = []
        self._next_read: dict[str, asyncio.Future[Positions]] = {}  # by topic, not yet begun
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
        if not read_up_to(self._reached, ends):
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

    async def _ends_of(self, topic: str) -> Positions:
        """The topic's partition ends, read after this call began: calls made while a read is
        under way share the next one."""
        upcoming = self._next_read.get(topic)
        if upcoming is None:
            upcoming = self._next_read[topic] = self._loop.create_future()
            self._loop.create_task(self._read_ends(topic, upcoming))
        return await asyncio.shield(upcoming)

    async def _read_ends(self, topic: str, upcoming: asyncio.Future[Positions]) -> None:
        async with self._reading[topic]:
            del self._next_read[topic]  # callers from now on wait for a later read
            try:
                ends = await asyncio.to_thread(self._follower.end_offsets, WAIT_SECONDS, topic)
            except Exception as error:
                upcoming.set_exception(
                    ApiError(
                        503,
                        "unavailable",
                        f"the event log did not answer ({error}); retry with the same "
                        "Idempotency-Key",
                        headers={"Retry-After": "1"},
                    )
                )
            else:
                upcoming.set_result(ends)

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
        horizon = time.time() * 1000 - self.window_ms
        while self._logged and next(iter(self._logged.values()))[1] < horizon:
            self._logged.popitem(last=False)
        still: list[tuple[Positions, asyncio.Future[None]]] = []
        for ends, waiter in self._waiting:
            if waiter.done():
                continue
            if read_up_to(self._reached, ends):
                waiter.set_result(None)
            else:
                still.append((ends, waiter))
        self._waiting = still
