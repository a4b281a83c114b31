"""Fold outputs onto the state topics (`streams.state`), at the pace subscribers need them.

- An `Update` supersedes earlier ones of its (channel, key): a key is sent at most once every
  `INTERVAL` seconds; a burst in between is held and only its last update goes out, when the
  interval is over. A key quiet for longer goes out at once.
- An urgent update (a poll's final result) goes out at once and replaces a held one.
- Notices and rejections go out at once, in order.

"Goes out" means handed to the worker's producer (`agents.worker`), which is flushed before
Faust commits offsets, so a committed event's outputs are in Kafka. A held update is not handed
over yet, so what must follow a batch's outputs (its states' changelog records and its acks, see
`agents.worker`) waits (`after_published`) until no update of that batch or an earlier one is
held: a worker killed meanwhile has neither committed those events nor stored the states
that include them, and whoever folds them again publishes their updates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from livefold.folding import Notice, Output, Rejected, Update
from streams.producer import EventProducer
from streams.state import StateRecord, StateWriter

INTERVAL = 0.1


@dataclass(slots=True)
class _Held:
    update: Update  # encoded only when it goes out: most of a burst never does
    due: float
    batch: int  # the newest batch whose update this is


class Publisher:
    def __init__(
        self,
        producer: EventProducer,
        writer: StateWriter,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.producer = producer
        self.writer = writer
        self.interval = interval
        self.clock = clock
        self.sent_at: dict[tuple[str, str], float] = {}  # (channel, key) -> when
        self.held: dict[tuple[str, str], _Held] = {}
        self.waiting: deque[tuple[int, Callable[[], None]]] = deque()
        self.records_sent = 0
        self._wake = asyncio.Event()

    def publish(self, outputs: Iterable[Output], batch: int) -> None:
        now = self.clock()
        for output in outputs:
            if isinstance(output, Notice | Rejected):
                self._send(self.writer.record(output))
                continue
            if not isinstance(output, Update):
                continue
            key = (output.channel, output.key)
            if output.urgent or now - self.sent_at.get(key, -math.inf) >= self.interval:
                self.held.pop(key, None)
                self.sent_at[key] = now
                self._send(self.writer.record(output))
            else:
                due = self.sent_at[key] + self.interval
                self.held[key] = _Held(output, due, batch)
                self._wake.set()

    def after_published(self, batch: int, action: Callable[[], None]) -> None:
        """Call `action` once no update of `batch` (or an earlier one) is held; batches are
        numbered in the order they were folded, and actions run in that order."""
        self.waiting.append((batch, action))
        self._release()

    async def run(self) -> None:
        """Send held updates when they are due; forever (a Faust task)."""
        while True:
            due = min((held.due for held in self.held.values()), default=None)
            if due is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_due()

    def send_due(self, everything: bool = False) -> None:
        now = self.clock()
        for key, held in list(self.held.items()):
            if (everything or held.due <= now) and self.held.get(key) is held:
                del self.held[key]  # (unless an urgent update replaced it meanwhile)
                self.sent_at[key] = now
                self._send(self.writer.record(held.update))
        self._release()
        if len(self.sent_at) > 4 * len(self.held) + 10_000:
            self.sent_at = {k: t for k, t in self.sent_at.items() if now - t < self.interval}

    def _release(self) -> None:
        oldest_held = min((held.batch for held in self.held.values()), default=math.inf)
        while self.waiting and self.waiting[0][0] < oldest_held:
            _, action = self.waiting.popleft()
            action()

    def send(self, output: Notice) -> None:
        """A notice out now, past anything held (what became of a batch, `agents.worker`)."""
        self._send(self.writer.record(output))

    def _send(self, record: StateRecord) -> None:
        self.producer.send_raw(record.topic, record.key.encode(), record.value)
        self.records_sent += 1
