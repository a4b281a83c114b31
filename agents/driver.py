"""One domain's pure fold driven over batches of records, its states kept in a Faust table.

Co-partitioning. Event topics are keyed by stream id with murmur2 (the Java default, which
`streams.producer` and Faust's producer both use), so a stream's events are all on partition
`partition_of(stream_id)` of every event topic, and a worker owns a stream's events on every
topic at once (Faust's assignor gives partition p of every topic to one worker). Faust writes a
table's changelog record to the partition of the event being processed, which is wrong for a
batch mixing partitions, and `use_partitioner=True` would hash the table key, which is not the
stream id for keys like "<stream>/<poll>". `FoldTable` writes each state to the partition of
the stream it belongs to (every fold state has `stream_id`), so partition p of a changelog holds
exactly the states of the streams whose events are on partition p, and Faust recovers them on
the worker that receives partition p.

A batch is folded in memory: each key's state is read from the table at most once and written
to its changelog once (`take_writes`), encoded as it was after the batch (see `agents.worker`
for when those writes go out, and the commit). The state's dedupe window goes to a table of its
own in chunks, only the chunks a batch appended to (`agents.state_records`).

Each event is all or nothing (`fold_batch`, which `livefold replay` folds with too): a fold that
raises leaves its key's state as it was before that event, and the event becomes a
`FoldFailure` for the dead-letter topic. Folds change states in place (copying a state per event
would cost many times the fold), so `fold_batch` keeps a way back to each key's state as the
batch found it (`Snapshot`), and on an exception rebuilds the state from it by folding again the
key's earlier events of the batch (folds are deterministic, so they give the same state). Replay
pickles each state a batch touches; the driver needs no copy at all for a state it encoded for
the changelog at the end of the last batch (nearly all of them): that record is the state as the
batch found it, its dedupe window aside, which only grows in place and so is cut back to its
length (`StateRecords.snapshot`). Pickling every touched state was a third of a small batch's
time.
"""

from __future__ import annotations

import heapq
import logging
import pickle
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import faust

from agents.aiokafka_private import murmur2
from agents.app import KEY_CODEC, STATE_CODEC, WINDOW_CODEC
from agents.faust_private import count_table_set, forget_in_memory, store_in_memory
from agents.state_records import ChangelogFormat, Stage, StateRecords, staged
from livefold.folding import SEEN, Domain, Output, Rejected, rebuilt_fields
from streams.consumer import Record
from streams.events import Event
from streams.producer import RawRecord

log = logging.getLogger(__name__)


@lru_cache(maxsize=65_536)
def partition_of(stream_id: str, partitions: int) -> int:
    """The partition of a stream's events (murmur2 of the key, as Kafka's Java client)."""
    return (int(murmur2(stream_id.encode())) & 0x7FFFFFFF) % partitions


class FoldTable(faust.Table[str, Any]):
    """A table of fold states whose changelog partition is the state's stream's partition."""

    def __init__(self, app: faust.App, name: str, partitions: int, **kwargs: Any):
        super().__init__(app, name=name, partitions=partitions, **kwargs)
        self.key_serializer = KEY_CODEC  # before the changelog topic is made from them
        self.value_serializer = STATE_CODEC

    def on_key_set(self, key: Any, value: Any) -> None:
        partition = partition_of(value["stream_id"], self.partitions)
        self.send_changelog(partition, key, value)
        count_table_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        raise TypeError(f"fold states are never deleted (table {self.name}, key {key!r})")


class WindowTable(FoldTable):
    """A fold's dedupe windows in chunks (`agents.state_records`)."""

    def __init__(self, app: faust.App, name: str, partitions: int, **kwargs: Any):
        super().__init__(app, name, partitions, **kwargs)
        self.value_serializer = WINDOW_CODEC


def event_time_order(records: Iterable[Record]) -> Iterator[Record]:
    """Each partition in its own order, the earliest `occurred_at` at the heads first (ties:
    topic, partition, offset): the order `livefold replay` folds moderation in."""
    partitions: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        partitions.setdefault((record.topic, record.partition), []).append(record)
    return merged(partitions)


def merged(partitions: dict[tuple[str, int], list[Record]]) -> Iterator[Record]:
    """The records of all partitions, each partition in its order, earliest head first."""
    return heapq.merge(
        *(partitions[name] for name in sorted(partitions)),
        key=lambda r: (r.event.occurred_at_ms, r.topic, r.partition, r.offset),
    )


@dataclass(frozen=True, slots=True)
class FoldFailure:
    """An event a fold raised on, or refused as one that should not be in the log
    (`Rejected.dead_letter`); its state is as it was before the event."""

    fold: str
    record: Record
    error: str
    refused: bool = False

    @property
    def reason(self) -> str:
        happened = "refused" if self.refused else "failed on"
        return f"the {self.fold} fold {happened} {self.record.event.type}: {self.error}"


Snapshot = Callable[[str, Any], Callable[[], Any]]  # (key, state) -> what rebuilds it as now


def pickled(key: str, state: Any) -> Callable[[], Any]:
    """A snapshot of any state: a pickled copy."""
    if state is None:
        return lambda: None
    copy = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
    return lambda: pickle.loads(copy)


def fold_batch(
    name: str,
    domain: Domain,
    records: Iterable[Record],
    states: MutableMapping[str, Any],
    stored: Callable[[str], Any] = lambda key: None,
    skips: Callable[[str], bool] = lambda key: False,
    snapshot: Snapshot = pickled,
) -> tuple[list[Output], list[FoldFailure]]:
    """Fold records into `states` (key -> state), each event all or nothing; a key missing from
    `states` starts from `stored(key)`. Returns the outputs and the events a fold raised on
    (each also a `Rejected` for its author)."""
    outputs: list[Output] = []
    failures: list[FoldFailure] = []
    before: dict[str, Callable[[], Any]] = {}  # each key's state as the batch found it
    applied: dict[str, list[Event]] = {}  # each key's events folded since
    for record in records:
        event = record.event
        key = domain.key_of(event)
        if skips(key):
            continue
        state = states[key] if key in states else stored(key)
        if key not in before:
            before[key] = snapshot(key, state)
            applied[key] = []
        try:
            state, produced = domain.fold(state, event)
        except Exception as error:  # a bug in one fold must not stop every stream
            log.exception("%s fold failed on %s %s", name, event.type, event.event_id)
            failure = FoldFailure(name, record, repr(error))
            failures.append(failure)
            outputs.append(Rejected(domain.CHANNEL, key, event, failure.reason))
            restored = _refolded(domain, before[key](), applied[key])
            if restored is None:
                states.pop(key, None)
            else:
                states[key] = restored
            continue
        states[key] = state
        applied[key].append(event)
        outputs += produced
    return outputs, failures


def _refolded(domain: Domain, state: Any, events: list[Event]) -> Any:
    """`state` with `events` folded again (their outputs went out already)."""
    for event in events:
        state, _ = domain.fold(state, event)
    return state


class FoldDriver:
    def __init__(
        self,
        name: str,
        domain: Domain,
        table: FoldTable,
        window: WindowTable,
        in_event_time_order: bool = False,
        skips: Callable[[str], bool] = lambda key: False,
    ):
        """`skips(key)`: keys this driver leaves to someone else (moderation's platform key)."""
        self.name = name
        self.domain = domain
        self.table = table
        self.window = window
        self.records = StateRecords(rebuilt=rebuilt_fields(domain))
        self.handles = domain.HANDLES
        self.in_event_time_order = in_event_time_order
        self.skips = skips
        self.changelog: ChangelogFormat | None = None  # set once registered (agents.__main__)
        self._touched: dict[str, Any] = {}

    @property
    def channel(self) -> str:
        return self.domain.CHANNEL

    def fold(self, records: list[Record]) -> tuple[list[Output], list[FoldFailure]]:
        ordered = event_time_order(records) if self.in_event_time_order else records
        return fold_batch(
            self.name, self.domain, ordered, self._touched, self.stored, self.skips, self.snapshot
        )

    def snapshot(self, key: str, state: Any) -> Callable[[], Any]:
        """The state's changelog record when it was encoded as it is now, else a pickled copy."""
        return self.records.snapshot(key, state) or pickled(key, state)

    def stored(self, key: str) -> Any:
        """The key's state in the table, with its dedupe window (restored after a recovery)."""
        return self.records.restored(key, self.table.get(key), self.window.get)

    def holds(self, event: Event) -> bool:
        """This fold applied the event already (its id is in its state's dedupe window), or
        leaves its key to someone else: folding it here would change nothing."""
        key = self.domain.key_of(event)
        if self.skips(key):
            return True
        state = self._touched[key] if key in self._touched else self.stored(key)
        return state is not None and event.event_id in state[SEEN]

    def flush(self, now: datetime, owned: set[int]) -> list[Output]:
        """Call the domain's `flush` on every state of the owned partitions."""
        outputs: list[Output] = []
        partitions = self.table.partitions
        for key, state in list(self.table.items()):
            if partition_of(state["stream_id"], partitions) not in owned or self.skips(key):
                continue
            state = self._touched.get(key) or self.records.restored(key, state, self.window.get)
            state, produced = self.domain.flush(state, now)
            if produced:  # flush changes bookkeeping only when it publishes something
                self._touched[key] = state
                outputs += produced
        return outputs

    def take_writes(self) -> list[Write]:
        """Every state changed since the last call, stored in the table's memory now and
        returned encoded as it is now, for the changelog once the outputs that go with it
        were published (`agents.worker`), each record with its stage (`agents.changelogs`)."""
        touched, self._touched = self._touched, {}
        if touched and self.changelog is None:
            raise RuntimeError(f"the {self.name} fold's changelog format is not registered")
        writes = []
        view_topic = self.table.changelog_topic.get_topic_name()
        window_topic = self.window.changelog_topic.get_topic_name()
        for key, state in touched.items():
            assert self.changelog is not None
            store_in_memory(self.table, key, state)
            partition = partition_of(state["stream_id"], self.table.partitions)
            for stage, chunk, record in staged(*self.records.encode(key, state)):
                if chunk is None:
                    encoded = self.changelog.view(view_topic, record)
                    writes.append(Write(view_topic, key, partition, encoded, stage))
                    continue
                # In memory too, as Faust keeps what its tables' changelogs hold.
                if record is None:
                    forget_in_memory(self.window, chunk)
                else:
                    store_in_memory(self.window, chunk, record)
                value = self.changelog.chunk(window_topic, record)
                writes.append(Write(window_topic, chunk, partition, value, stage))
        return writes


@dataclass(frozen=True, slots=True)
class Write:
    """A state for a table's changelog, encoded when its batch was folded."""

    topic: str  # the table's changelog
    key: str
    partition: int
    value: bytes | None  # None deletes the key (a window chunk no longer needed)
    stage: Stage  # when it may be sent (`agents.changelogs`)

    def record(self) -> RawRecord:
        return self.topic, self.key.encode(), self.value, self.partition, None
