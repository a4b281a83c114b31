"""Faust's Kafka consumer, delivering the event topics a fetch at a time.

Faust hands each record to its streams one by one: per record it awaits the conductor, a
queue, the stream's processors and a task race (`wait_first`), which costs about 40-80 µs
here, so no agent gets past ~12k events/s even with `stream.take()`. This consumer keeps
everything else of Faust (group membership and assignment, pausing partitions while tables
recover, offset bookkeeping, commits) and changes one thing: records of the transport's
`batch_topics` go to its `on_batch` as one list per fetch (at most `max_batch` at a time)
instead of through the conductor. Other topics (the tables' changelogs during recovery) take
Faust's usual path.

`on_batch` acks a batch's messages (`ack_all`) when their effects are written, and Faust
commits offsets only up to acked messages, after flushing the producer. A rebalance waits until
every delivered batch is acked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class BatchConsumer(faust_kafka.Consumer):
    async def _drain_messages(self, fetcher: Any) -> None:
        transport = self.transport
        assert isinstance(transport, BatchTransport)
        while not (self._stopped.is_set() or fetcher._stopped.is_set()):
            records, active = await self._wait_next_records(timeout=1.0)
            if not records or self.should_stop:
                continue
            if not self.flow_active:
                # As Faust does: records fetched while rebalancing are dropped and read
                # again from the committed offsets.
                await self.perform_seek()
                continue
            batch: list[Message] = []
            for tp, tp_records in records.items():
                if active is not None and tp not in active and tp not in self._buffered_partitions:
                    continue
                read = self._read_offset[tp]
                if read is not None:  # a fetch that raced a seek may repeat older records
                    tp_records = [record for record in tp_records if record.offset >= read]
                if not tp_records:
                    continue
                if tp.topic in transport.batch_topics:
                    await self._note_gaps(tp, tp_records)
                    batch += self._messages(tp, tp_records)
                else:
                    for record in tp_records:
                        await self.callback(self._to_message(tp, record))
                        self._read_offset[tp] = record.offset
            on_batch = transport.on_batch
            if on_batch is None:
                raise RuntimeError("BatchTransport.on_batch is not set")
            for start in range(0, len(batch), transport.max_batch):
                chunk = batch[start : start + transport.max_batch]
                # A rebalance waits for tracked messages to be acked; one per chunk is enough
                # (all of a chunk are acked together) and spares a weak set entry per record.
                self.track_message(chunk[0])
                # A rebalance also cancels this loop; the chunk in hand is finished all the
                # same, never cut off halfway through its writes.
                await asyncio.shield(on_batch(chunk))

    def ack_all(self, messages: Sequence[Message]) -> None:
        """Faust's `Consumer.ack` for a whole batch in one pass (the same bookkeeping: the
        offsets become committable, the tracked message is no longer waited for)."""
        with ack_lock:
            offsets: dict[TP, list[int]] = {}
            for message in messages:
                if not message.acked:
                    message.acked = True
                    offsets.setdefault(message.tp, []).append(message.offset)
                    self._unacked_messages.discard(message)
            for tp, acked in offsets.items():
                committed = self._committed_offset[tp]
                index = self._acked_index[tp]
                fresh = [
                    o for o in acked if (committed is None or o >= committed) and o not in index
                ]
                index.update(fresh)
                self._acked[tp].extend(fresh)
                self._n_acked += len(fresh)
            notify(self._waiting_for_ack)

    def _messages(self, tp: TP, records: Sequence[Any]) -> list[Message]:
        to_message = self._to_message
        messages: list[Message] = []
        for record in records:
            messages.append(to_message(tp, record))
        self._read_offset[tp] = records[-1].offset
        return messages

    async def _note_gaps(self, tp: TP, records: Sequence[Any]) -> None:
        """Offsets a partition skips (compaction, transaction markers) count as acked, or
        Faust's commit would wait for them forever."""
        previous = self._read_offset[tp]
        for record in records:
            if previous is not None and record.offset > previous + 1:
                await self._add_gap(tp, previous + 1, record.offset - 1)
            previous = record.offset


class BatchTransport(faust_kafka.Transport):
    """Set `batch_topics` and `on_batch` before the app starts."""

    Consumer: ClassVar[type[Any]] = BatchConsumer
    batch_topics: frozenset[str] = frozenset()
    on_batch: BatchHandler | None = None
    max_batch: int = 20_000
