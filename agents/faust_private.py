"""Every use of Faust's private names: the fold worker's consumer, which delivers the event
topics a fetch at a time, and the few table internals the driver and the worker need.

faust-streaming is pinned exactly (pyproject.toml). `RELIES_ON` lists each private name used
here and `PINNED_SOURCE` each Faust method whose logic is replaced or repeated here, with a digest
of its source; tests/test_library_internals.py fails, naming the attribute, when the installed
Faust lacks one or changed one, and when code outside this module uses one. Read the new
Faust's code before updating a digest.

The consumer.

Faust hands each record to its streams one by one: per record it awaits the conductor, a
queue, the stream's processors and a task race (`wait_first`), which costs about 40-80 µs
here, so no agent gets past ~12k events/s even with `stream.take()`. This consumer keeps
everything else of Faust (group membership and assignment, pausing partitions while tables
recover, offset bookkeeping, commits) and changes one thing: records of the transport's
`batch_topics` go to its `on_batch` as one list per fetch (at most `max_batch` at a time)
instead of through the conductor, as aiokafka fetched them (a Faust message per record costs
more than decoding the event). Other topics (the tables' changelogs during recovery) take
Faust's usual path.

`on_batch` acks a batch (`ack_all`) when its effects are written, and Faust commits offsets only
up to acked offsets, after awaiting `before_commit` (the worker flushes its own producer there)
and flushing Faust's producer. A rebalance waits until every delivered batch is acked (each
batch carries one Faust message for that wait).

Fetched records are sometimes dropped unfolded: a fetch that returns after its partition was
paused for table recovery, a batch fetched before a rebalance. Faust relies on its seek to the
committed offsets after each recovery to read them again, but aiokafka does not move a
partition that has no committed offset (or offset 0), so those records would be skipped for
good. `seek_to_committed` seeks such partitions of the event topics to their earliest offset,
which is where `consumer_auto_offset_reset="earliest"` says an uncommitted partition starts.
And a fetch that returns after such a seek would make Faust note the offsets it jumped as a
gap (acked, never folded): `_in_order` seeks back instead (see there).

Fetches wait at most `FETCH_MAX_WAIT_MS` for data (Faust asks aiokafka for 1.5 s). A fetch
returns as soon as any of its partitions has a record, but aiokafka leaves out of the next fetch
a partition whose records are still being folded when it is sent (after 100 ms), and that
partition's next records then wait for the whole fetch: under load that was up to 1.5 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import faust
from faust.tables.base import Collection
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode import Service
from mode.utils.futures import notify

from agents.aiokafka_private import bound_fetch_wait

Base = faust_consumer.Consumer
RELIES_ON: dict[type, tuple[str, ...]] = {
    Base: (
        "_drain_messages",
        "_wait_next_records",
        "_buffered_partitions",
        "_read_offset",
        "_to_message",
        "_new_topicpartition",
        "_seek",
        "_add_gap",
        "_unacked_messages",
        "_committed_offset",
        "_acked_index",
        "_acked",
        "_n_acked",
        "_waiting_for_ack",
        "track_message",
        "perform_seek",
        "flow_active",
        "should_stop",
        "callback",
        "earliest_offsets",
        "seek_to_committed",
        "_commit_offsets",
    ),
    faust_kafka.Consumer: ("_new_consumer_thread", "_thread"),
    faust_kafka.AIOKafkaConsumerThread: ("_create_worker_consumer", "call_thread", "seek"),
    Service: ("_stopped",),
    Collection: ("_sensor_on_set", "data", "send_changelog"),
    TableManager: ("recovery",),
    Recovery: ("completed",),
}
# Faust's methods whose logic is replaced (`_drain_messages`, `_seek`), repeated (`ack`, in
# `ack_all`) or extended (`seek_to_committed`, `_commit_offsets`: flushes then commits) here,
# with the sha256 of their source as pinned.
PINNED_SOURCE: dict[str, str] = {
    "faust.transport.consumer.Consumer._commit_offsets": (
        "1a6979904118844111259d182ca1c6e92ccc16364ccbe55c58e59d6e254a7adb"
    ),
    "faust.transport.consumer.Consumer._drain_messages": (
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
    ),
    "faust.transport.consumer.Consumer.ack": (
        "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f"
    ),
    "faust.transport.consumer.ThreadDelegateConsumer._seek": (
        "4f95c631420410a5fe6ecb1eff2f9010d7cfff6861fe00d41889bb31bd7df8b1"
    ),
    "faust.transport.consumer.Consumer.seek_to_committed": (
        "8d52f70fc8826291e882f9f289c84b4ad142539c2c856f790241d907f146efa3"
    ),
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_worker_consumer": (
        "c2701bfc3e6f6cad95c2be36d6a255a86e2c57d18d36cc1082b5fb5c482d99d7"
    ),
    "faust.transport.drivers.aiokafka.Consumer._to_message": (
        "7c24f6511b2fcef7cbfe73526e78de033bfe0df211f1fd30509d699c9deb6ce4"
    ),
    # `agents.driver.FoldTable.on_key_set` sends to its own partition, then this module's
    # `count_table_set`; Faust's also sets key TTLs, which fold tables do not use.
    "faust.tables.table.Table.on_key_set": (
        "a370e35ca55c2c7e36e93f0d4b485927c32d49199043cab2314572846184dd94"
    ),
}


@dataclass(slots=True)
class Batch:
    records: list[Any]  # aiokafka's ConsumerRecords: topic, partition, offset, key, value
    tracked: Message  # its first record as a Faust message: a rebalance waits for its ack


BatchHandler = Callable[[Batch], Awaitable[None]]
BeforeCommit = Callable[[], Awaitable[None]]


FETCH_MAX_WAIT_MS = 50


class FetchThread(faust_kafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, its aiokafka consumer's fetches bounded (see above)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        bound_fetch_wait(consumer, FETCH_MAX_WAIT_MS)
        return consumer


class BatchConsumer(faust_kafka.Consumer):
    _skipped: dict[TP, tuple[int, int]]  # event partition -> (expected, fetched) of a skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._skipped = {}

    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return FetchThread(self, loop=self.loop, beacon=self.beacon)

    async def _seek(self, partition: TP, offset: int) -> None:
        """Faust's seek, made on the consumer's own thread: Faust calls aiokafka's `seek` from
        the app's thread, where it can delete a partition's fetched records while the consumer
        thread is draining them (aiokafka's `fetched_records` then raised KeyError and the
        worker crashed; seen in a CI run, on this module's seek of an uncommitted partition)."""
        thread = self._thread

        async def seek() -> None:  # run by the consumer thread's loop
            thread.seek(partition, offset)

        await thread.call_thread(seek)

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        """Faust's commit, once the transport's `before_commit` (the worker's flush of its own
        producer) is done: a committed event's outputs are in Kafka. If that raises, nothing
        is committed."""
        transport = self.transport
        assert isinstance(transport, BatchTransport)
        if transport.before_commit is not None:
            await transport.before_commit()
        return bool(await super()._commit_offsets(offsets, start_new_transaction))

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
                try:
                    await self.perform_seek()
                except Exception as error:  # the assignment changed under it; as Faust
                    self.log.warning("seeking to the committed offsets failed: %r", error)
                continue
            batch: list[Any] = []
            for tp, tp_records in records.items():
                if active is not None and tp not in active and tp not in self._buffered_partitions:
                    continue
                if tp.topic in transport.batch_topics:
                    batch += await self._in_order(tp, tp_records)
                    continue
                read = self._read_offset[tp]
                if read is not None:  # a fetch that raced a seek may repeat older records
                    tp_records = [record for record in tp_records if record.offset >= read]
                for record in tp_records:
                    await self.callback(self._to_message(tp, record))
                    self._read_offset[tp] = record.offset
            on_batch = transport.on_batch
            if on_batch is None:
                raise RuntimeError("BatchTransport.on_batch is not set")
            for start in range(0, len(batch), transport.max_batch):
                if not self.flow_active:
                    # A rebalance began: as Faust's `getmany`, leave the rest of the fetch (it
                    # can hold a few hundred thousand records) to the seek to the committed
                    # offsets that follows the rebalance, instead of folding it while the
                    # group waits for this member to let go. (Seeking here raced the new
                    # assignment: aiokafka raised on a partition no longer assigned.)
                    break
                chunk = batch[start : start + transport.max_batch]
                first = chunk[0]
                tracked = self._to_message(
                    self._new_topicpartition(first.topic, first.partition), first
                )
                self.track_message(tracked)
                # A rebalance also cancels this loop; the chunk in hand is finished all the
                # same, never cut off halfway through its writes.
                await asyncio.shield(on_batch(Batch(chunk, tracked)))

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Faust's seek to the committed offsets, where uncommitted event partitions (which
        aiokafka leaves where they are) go to their earliest offset."""
        committed = dict(await super().seek_to_committed())
        transport = self.transport
        assert isinstance(transport, BatchTransport)
        uncommitted = [
            tp
            for tp in self.assignment()
            if tp.topic in transport.batch_topics and not committed.get(tp)
        ]
        if uncommitted:
            for tp, offset in (await self.earliest_offsets(*uncommitted)).items():
                await self._seek(tp, offset)
                committed[tp] = offset
        return committed

    async def _in_order(self, tp: TP, records: list[Any]) -> list[Any]:
        """The fetched records of an event partition that follow the last one delivered.

        `_read_offset` of an event partition is the next offset to deliver (Faust's seeks set
        it so). Records before it are repeats from a fetch that raced a seek. Records after
        it are from a fetch made before a seek moved the partition back: they are dropped and
        the partition is sought back, so they come again in order. Event topics are neither
        compacted nor transactional, so their offsets have no holes; if a partition does skip
        the same offsets twice, that is a real hole and Faust's gap bookkeeping acks it.
        """
        expected = self._read_offset[tp]
        if expected is not None:
            records = [record for record in records if record.offset >= expected]
            if records and records[0].offset > expected:
                skip = (expected, records[0].offset)
                if self._skipped.get(tp) != skip and tp in self.assignment():
                    self._skipped[tp] = skip
                    await self._seek(tp, expected)
                    return []
                await self._add_gap(tp, expected, records[0].offset - 1)
        if not records:
            return []
        self._skipped.pop(tp, None)
        self._read_offset[tp] = records[-1].offset + 1
        return records

    def ack_all(self, batch: Batch) -> None:
        """Faust's `Consumer.ack` for a whole batch in one pass (the same bookkeeping: the
        offsets become committable, the tracked message is no longer waited for)."""
        with ack_lock:
            tracked = batch.tracked
            if tracked.acked:
                return
            tracked.acked = True
            self._unacked_messages.discard(tracked)
            offsets: dict[tuple[str, int], list[int]] = {}
            for record in batch.records:
                offsets.setdefault((record.topic, record.partition), []).append(record.offset)
            for (topic, partition), acked in offsets.items():
                tp = self._new_topicpartition(topic, partition)
                committed = self._committed_offset[tp]
                index = self._acked_index[tp]
                fresh = [
                    o for o in acked if (committed is None or o >= committed) and o not in index
                ]
                index.update(fresh)
                self._acked[tp].extend(fresh)
                self._n_acked += len(fresh)
            notify(self._waiting_for_ack)


class BatchTransport(faust_kafka.Transport):
    """Set `batch_topics` and `on_batch` before the app starts."""

    Consumer: ClassVar[type[Any]] = BatchConsumer
    batch_topics: frozenset[str] = frozenset()
    on_batch: BatchHandler | None = None
    before_commit: BeforeCommit | None = None
    max_batch: int = 20_000


def store_in_memory(table: faust.Table[str, Any], key: str, state: Any) -> None:
    """Set a key's state in the table's memory only: its changelog record is sent later, by
    the worker, once what goes with it is in Kafka (`agents.worker`)."""
    table.data[key] = state


def forget_in_memory(table: faust.Table[str, Any], key: str) -> None:
    """Drop a key from the table's memory only (its changelog gets a tombstone separately)."""
    table.data.pop(key, None)


def count_table_set(table: faust.Table[str, Any], key: str, value: Any) -> None:
    """What Faust's `on_key_set` does besides sending the changelog: tell its sensors."""
    table._sensor_on_set(table, key, value)


def tables_recovered(app: faust.App) -> bool:
    """Faust recovered the tables of the partitions it assigned (it sets this last)."""
    tables = app.tables
    assert isinstance(tables, TableManager)
    return bool(tables.recovery.completed.is_set())
