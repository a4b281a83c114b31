"""A fold worker: batches of events in, states, emitted events and state records out.

For each batch the transport delivers (`agents.faust_private`):

1. decode every record with the `livefold` codec; one that cannot be decoded goes to the
   dead-letter topic with the reason (a registry outage is retried, not dead-lettered);
2. fold the batch through the drivers in order (`agents.folds`: moderation first, so the
   verdicts it decides reach chat in the same batch), in memory; an event a fold raises on
   leaves the state as it was and goes to the dead-letter topic with the error
   (`agents.driver.fold_batch`);
3. send the events the folds emitted (verdicts) and the dead letters to Kafka, the emitted ones
   marked as folded already (`FOLDED_HEADER`);
4. store each changed state in its table's memory and encode it as it is now;
5. hand the outputs to the publisher (`agents.publish`), which may hold updates up to 100 ms:
   notices do not wait for the verdicts' acks (a notice is shown at once; if the worker dies
   before the acks, its successor issues the same verdict again);
6. wait until Kafka has the emitted events, and once none of the batch's updates is held: send
   the encoded states to the changelogs, the views once Kafka has their window chunks
   (`agents.changelogs`), and then what became of each event (`outcomes` state topic, which
   every gateway follows for `GET /api/v1/events/{id}`), then ack the batch's records.

Faust commits offsets only up to acked records, and flushes the producer first, so a committed
event's state, emitted events and state records are all in Kafka. A worker killed anywhere in
between leaves its last events uncommitted: whoever takes the partitions recovers the states as
written and folds those events again; the folds skip the ones the states already hold (dedupe
by event id) and publish what the others change. The order matters twice: a state that holds a
message as judged never reaches the changelog before its verdict is in the log (or a restart
would never issue it), nor before the updates it implies went out (or a restart would skip
their events as duplicates and never publish them). Flush timers follow the same steps.

An emitted event comes back to the worker (the folds that take it read its topic). Folding it
again would change nothing (every fold that took it holds its id) but cost a batch: decoding,
every state it touches re-encoded for the changelog. So a record marked as folded is dropped
unfolded, but only when every fold that takes its event holds its id in the dedupe window of its
state now (`FoldDriver.holds`); otherwise (another worker's, a state recovered from before it)
it is folded as any event, and the folds' own dedupe keeps it once. Replay ignores the mark.

Timers call each domain's `flush` for the states of the partitions this worker owns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from agents.app import EVENT_CODEC, KEY_CODEC, EventCodec
from agents.changelogs import ChangelogSender
from agents.driver import FoldDriver, FoldFailure, partition_of
from agents.faust_private import Batch, BatchConsumer, BatchTransport, tables_recovered
from agents.platform import PlatformModeration
from agents.publish import Publisher
from agents.timings import Timings
from livefold.folding import Notice, Output, Rejected, outcome_notices, refusal_event
from livefold.moderation.state import PLATFORM
from streams.catalog import DEADLETTER_TOPIC, catalog
from streams.codec import DecodeError, EventValidationError
from streams.consumer import Record, deadletter_headers, undecodable_record
from streams.events import Event
from streams.producer import EventProducer, RawRecord
from streams.state import StateWriter

log = logging.getLogger(__name__)

# Marks a record the worker appended for an event its folds emitted and applied already.
FOLDED_HEADER = "livefold.folded"
FOLDED: list[tuple[str, bytes]] = [(FOLDED_HEADER, b"1")]


class FoldWorker:
    def __init__(
        self,
        app: faust.App,
        codec: EventCodec,
        drivers: list[FoldDriver],
        platform: PlatformModeration,
        partitions: int,
        sender: EventProducer,
        state_writer: StateWriter,
        ready_file: Path | None = None,
    ):
        """`sender`: the producer of everything the worker writes (emitted events, dead
        letters, state records, changelogs), librdkafka's rather than Faust's aiokafka one,
        whose per-record send cost about a sixth of a worker's time."""
        self.app = app
        self.sender = sender
        self.codec = codec
        self.drivers = drivers
        self.platform = platform
        self.partitions = partitions
        self.ready_file = ready_file
        self.routes: dict[str, list[FoldDriver]] = {}
        for driver in drivers:
            for event_type in driver.handles:
                self.routes.setdefault(event_type, []).append(driver)
        self.source_topics = frozenset(catalog()[t].topic for t in self.routes)
        self.publisher = Publisher(sender, state_writer)
        self.changelogs = ChangelogSender(sender)
        self.lock = asyncio.Lock()
        self.batches = 0  # folded event batches and timer flushes, in order
        self.timings = Timings()
        self.events = 0
        self.skipped = 0  # records of emitted events dropped as folded already

    def install(self) -> None:
        """Wire the worker into the app (before it starts)."""
        transport = self.app.transport
        assert isinstance(transport, BatchTransport)
        transport.batch_topics = self.source_topics
        transport.on_batch = self.on_batch
        transport.before_commit = self._flush_outputs
        topics = self.app.topic(
            *sorted(self.source_topics), key_serializer=KEY_CODEC, value_serializer=EVENT_CODEC
        )
        self.app.topics.add(topics)  # subscribes the group to them
        self.app.task(self.publisher.run)
        self.app.task(self._announce_ready)
        self.app.timer(10.0, name="fold-stats")(self._log_stats)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        for driver in self.drivers:
            every = driver.domain.FLUSH_EVERY
            if every is not None:
                self.app.timer(every, name=f"flush-{driver.name}")(self._flusher(driver))

    async def on_batch(self, batch: Batch) -> None:
        if batch.tracked.generation_id != self.app.consumer_generation_id:
            return  # fetched before a rebalance: read again from the committed offsets
        while not self.platform.caught_up.is_set():
            self._check_platform()
            await asyncio.sleep(0.05)
        fetched = time.time()
        oldest = min(record.timestamp for record in batch.records)
        self.timings.add("record_to_worker", fetched - oldest / 1000)
        async with self.lock:
            locked = time.time()
            self.timings.add("lock_wait", locked - fetched)
            records = await self._decode(batch.records)
            outputs, failures = self._fold(records)
            self.timings.add("decode_and_fold", time.time() - locked)
            outcomes = outcome_notices((record.event for record in records), outputs)
            await self._write(outputs, batch, failures, outcomes)
            self.events += len(records)

    def _fold(self, records: list[Record]) -> tuple[list[Output], list[FoldFailure]]:
        inputs: dict[FoldDriver, list[Record]] = {driver: [] for driver in self.drivers}
        for record in records:
            for driver in self.routes.get(record.event.type, ()):
                inputs[driver].append(record)
        outputs: list[Output] = []
        failures: list[FoldFailure] = []
        for position, driver in enumerate(self.drivers):
            produced, failed = driver.fold(inputs[driver])
            outputs += produced
            failures += failed + _dead_letters(driver.name, produced, inputs[driver])
            for output in produced:
                if isinstance(output, Event):  # folded by the drivers after this one now
                    record = Record(output, catalog()[output.type].topic, -1, -1)
                    for later in self.routes.get(output.type, ()):
                        if self.drivers.index(later) > position:
                            inputs[later].append(record)
        return outputs, failures

    async def _write(
        self,
        outputs: list[Output],
        batch: Batch | None = None,
        failures: Sequence[FoldFailure] = (),
        outcomes: Sequence[Notice] = (),
    ) -> None:
        """`outcomes` go out last, once the batch's outputs did: a gateway told "applied" or
        "rejected" knows the outputs are in Kafka."""
        self.batches += 1
        emitted = [output for output in outputs if isinstance(output, Event)]
        emitted += [
            refusal
            for output in outputs
            if isinstance(output, Rejected) and (refusal := refusal_event(output)) is not None
        ]
        sent = self._send(emitted, failures) if emitted or failures else None
        writes = [write for driver in self.drivers for write in driver.take_writes()]
        self.publisher.publish(outputs, self.batches)
        if sent is not None:
            waited = time.time()
            await asyncio.wrap_future(sent)
            self.timings.add("emitted_acks_after_publish", time.time() - waited)

        def done() -> None:
            for outcome in outcomes:
                self.publisher.send(outcome)
            if batch is not None:
                consumer = self.app.consumer
                assert isinstance(consumer, BatchConsumer)
                consumer.ack_all(batch)

        self.publisher.after_published(self.batches, lambda: self.changelogs.send(writes, done))

    def _send(self, events: list[Event], failures: Sequence[FoldFailure]) -> Future[None]:
        """Hand the events and dead letters to the producer; done once Kafka has them all."""
        records: list[RawRecord] = []
        for failure in failures:
            record = failure.record
            headers = deadletter_headers(
                failure.reason, record.topic, record.partition, record.offset
            )
            value = self.codec.dumps(record.event)
            key = record.event.stream_id.encode()
            records.append((DEADLETTER_TOPIC, key, value, None, headers))
        for event in events:
            try:
                value = self.codec.dumps(event)
            except EventValidationError:  # a fold's bug; appending it again would fail too
                log.exception("a fold emitted an invalid %s; not appended", event.type)
                continue
            partition = partition_of(event.stream_id, self.partitions)
            topic = catalog()[event.type].topic
            records.append((topic, event.stream_id.encode(), value, partition, FOLDED))
        return self.sender.send_all(records)

    async def _flush_outputs(self) -> None:
        """Before Faust commits offsets: everything the worker sent is in Kafka (Faust flushes
        only its own producer), the views of batches whose chunks were still unacknowledged
        included. The lock keeps batches from adding records meanwhile."""
        async with self.lock:
            await self.changelogs.settled()
            await asyncio.to_thread(self.sender.flush)

    async def _decode(self, fetched: list[Any]) -> list[Record]:
        records = []
        decode = self.codec.codec.decode
        for message in fetched:
            try:
                event = decode(message.value or b"")
            except DecodeError:
                event = None
            if not isinstance(event, Event):  # the slow path: retried, or dead-lettered
                event = await self._decoded(message)
                if event is None:
                    continue
            if message.headers and self._folded_already(event, message.headers):
                self.skipped += 1
                continue
            records.append(Record(event, message.topic, message.partition, message.offset))
        return records

    def _folded_already(self, event: Event, headers: Sequence[tuple[str, bytes]]) -> bool:
        """The record is one this worker's folds emitted and every fold that takes it holds."""
        if not any(name == FOLDED_HEADER for name, _ in headers):
            return False
        return all(driver.holds(event) for driver in self.routes.get(event.type, ()))

    async def _decoded(self, message: Any) -> Event | None:
        delay = 0.1
        while True:
            try:
                event = self.codec.loads(message.value or b"")
            except DecodeError as error:
                if not error.retriable:
                    await self._dead_letter(message, error.reason)
                    return None
                log.warning("%s; retrying in %.1f s", error.reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if isinstance(event, Event):
                return event
            await self._dead_letter(message, f"decoded to {type(event).__name__}, not an event")
            return None

    async def _dead_letter(self, message: Any, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", *_position(message), reason)
        headers = deadletter_headers(reason, *_position(message))
        original = message.value if isinstance(message.value, bytes) else None
        value = undecodable_record(self.codec.codec, original, reason, *_position(message))
        self.sender.send_raw(DEADLETTER_TOPIC, message.key, value, None, headers)

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Before the partitions move, whatever is held goes out, and the states behind it
        to the changelogs (Faust has waited for the batches' acks; this covers the timers)."""
        async with self.lock:
            self.publisher.send_due(everything=True)
            await self.changelogs.settled()

    def owned_partitions(self) -> set[int] | None:
        """The partitions this worker folds now; None while a rebalance or recovery runs."""
        if self.app.rebalancing or not self._recovered():
            return None
        return {
            tp.partition for tp in self.app.consumer.assignment() if tp.topic in self.source_topics
        }

    def _flusher(self, driver: FoldDriver) -> Callable[[], Awaitable[None]]:
        async def flush() -> None:
            owned = self.owned_partitions()
            if owned is None:
                return
            async with self.lock:
                outputs = driver.flush(datetime.now(UTC), owned)
                if driver.channel == "moderation":
                    outputs += self._platform_outputs(owned)
                await self._write(outputs)

        return flush

    def _platform_outputs(self, owned: set[int]) -> list[Output]:
        """The platform state's outputs, published by the owner of its moderation partition
        (every worker folds it)."""
        outputs = []
        while not self.platform.outputs.empty():
            outputs.append(self.platform.outputs.get_nowait())
        publishes = partition_of(PLATFORM, self.partitions) in owned
        return outputs if publishes else []

    async def _log_stats(self) -> None:
        log.info(
            "folded %d events (%d batches and flushes; %d emitted ones back, folded already); "
            "%d state records sent, %d held; %.1f CPU seconds",
            self.events,
            self.batches,
            self.skipped,
            self.publisher.records_sent,
            len(self.publisher.held),
            time.process_time(),
        )
        log.info("%s", self.timings.report())

    def _recovered(self) -> bool:
        return tables_recovered(self.app)

    def _check_platform(self) -> None:
        if self.platform.failure is not None:
            raise RuntimeError(f"platform moderation reader failed: {self.platform.failure!r}")

    async def _announce_ready(self) -> None:
        """Write the ready file once the group assigned partitions, the tables recovered them
        and the platform state caught up with the log."""
        while not (
            self._recovered() and self.platform.caught_up.is_set() and not self.app.rebalancing
        ):
            self._check_platform()
            await asyncio.sleep(0.1)
        owned = sorted(self.owned_partitions() or ())
        log.info("fold worker ready; partitions %s", owned)
        if self.ready_file is not None:
            temporary = self.ready_file.with_suffix(".tmp")
            temporary.write_text(json.dumps({"pid": os.getpid(), "partitions": owned}))
            temporary.replace(self.ready_file)
        while True:  # a failed platform reader stops the worker instead of folding blind
            self._check_platform()
            if self.ready_file is not None:
                self.ready_file.touch()  # the heartbeat `livefold run` checks
            await asyncio.sleep(1.0)


def _dead_letters(fold: str, outputs: list[Output], records: list[Record]) -> list[FoldFailure]:
    """The refusals a fold wants someone to look at (a capture unlike its intent)."""
    reasons = {
        output.event.event_id: output.reason
        for output in outputs
        if isinstance(output, Rejected) and output.dead_letter
    }
    if not reasons:
        return []
    return [
        FoldFailure(fold, record, reasons.pop(record.event.event_id), refused=True)
        for record in records
        if record.event.event_id in reasons
    ]


def _position(message: Any) -> tuple[str, int, int]:
    return message.topic, message.partition, message.offset
