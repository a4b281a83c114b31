"""A batch's changelog records go out in stages (`agents.state_records.Stage`): its window
chunks, then, once Kafka acknowledged them, its views and what follows them (the outcomes and
the ack of the batch's records, `agents.worker`), then, once the views are acknowledged, the
tombstones of the chunks the windows left.

The views and the window chunks are two changelog topics; without the first wait a worker
killed after a view reached Kafka but before its chunk did would come back with a state that
counts events its window lacks, and fold them a second time when it reads them again (their
offsets were not committed). A Kafka transaction would also close it, but the worker's offsets
are committed by Faust's consumer, not by this producer, and the chunks' round trip costs the
batch nothing but latency: the next batches fold meanwhile.

Views go out in the order their batches were folded (a later view of a key never reaches Kafka
before an earlier one, which would then overwrite it), so each batch waits for the one before
it; its chunks do not (a chunk ahead of its view is cut back on recovery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future

from agents.driver import Write
from agents.state_records import Stage
from streams.producer import AppendError, EventProducer


class ChangelogSender:
    def __init__(self, producer: EventProducer):
        self.producer = producer
        self._last: asyncio.Future[None] | None = None  # the latest batch's views sent
        self._trims: set[asyncio.Task[None]] = set()

    def send(self, writes: list[Write], then: Callable[[], None]) -> None:
        """Send the writes in their stages; call `then` once the views are handed over."""
        chunks = [write.record() for write in writes if write.stage is Stage.CHUNK]
        views = [write for write in writes if write.stage is Stage.VIEW]
        trims = [write for write in writes if write.stage is Stage.TRIM]
        acked = self.producer.send_all(chunks) if chunks else None
        if acked is None and (self._last is None or _succeeded(self._last)):
            self._last = None  # nothing to wait for (a timer flush, mostly): sent at once
            self._send_views(views, trims, then)
            return
        self._last = asyncio.ensure_future(self._after(self._last, acked, views, trims, then))

    async def settled(self) -> None:
        """Returns once the views of every batch given to `send` so far are handed to the
        producer; raises what failed on the way."""
        if self._last is not None:
            await self._last

    async def _after(
        self,
        before: asyncio.Future[None] | None,
        chunks: Future[None] | None,
        views: list[Write],
        trims: list[Write],
        then: Callable[[], None],
    ) -> None:
        if chunks is not None:
            await asyncio.wrap_future(chunks)
        if before is not None:
            await before  # raises what failed before: no later view may go out either
        self._send_views(views, trims, then)

    def _send_views(self, views: list[Write], trims: list[Write], then: Callable[[], None]) -> None:
        if trims:
            acked = self.producer.send_all([write.record() for write in views])
            trimming = asyncio.ensure_future(self._trim(acked, trims))
            self._trims.add(trimming)
            trimming.add_done_callback(self._trims.discard)
        else:
            for write in views:
                self.producer.send_raw(*write.record())
        then()

    async def _trim(self, views: Future[None], trims: list[Write]) -> None:
        """A failed view leaves its trims unsent (the worker's commit fails on it anyway)."""
        try:
            await asyncio.wrap_future(views)
        except AppendError:
            return
        for write in trims:
            self.producer.send_raw(*write.record())


def _succeeded(future: asyncio.Future[None]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
