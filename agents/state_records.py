"""How a fold state becomes changelog records, and comes back from them.

A state carries its dedupe window (`_seen`: the ids of up to 12,500 recently applied events,
`livefold.folding.remember`), which is most of its bytes. Written whole on every batch, it was
most of the fold worker's time (`python -m bench fold_state_writes`). So a state is written as
two kinds of records:

- the view: the state with an empty window, plus `_seen_total` (ids ever appended to the
  window, as counted here) and `_seen_len` (how many of the newest it holds), in the fold's
  table; without what the fold rebuilds from the rest when it is missing (its domain's
  `REBUILT_FIELDS`, `livefold.folding.rebuilt_fields`: moderation's index of each user's
  message history, which was 30% of the bytes a busy stream's moderation view took to write
  every batch);
- the window in chunks of `CHUNK` ids, chunk n holding the ids appended as the (n·CHUNK)th to
  the ((n+1)·CHUNK - 1)th, under the key "<key>#<n>" in the fold's window table. A batch
  rewrites only the chunks it appended to, and deletes (tombstones) the chunks the window no
  longer reaches.

The two changelogs are written without a transaction, so their records reach Kafka in stages
(`Stage`, `staged`): a batch's chunks first; its views once Kafka acknowledged those chunks, so a
durable view never counts ids its window lacks (their events, read again after a crash, would be
folded twice); the tombstones of chunks the window left once the views are acknowledged, so no
durable view misses a chunk it reaches. A crash can still leave chunks ahead of their view, so
a recovered view (`_seen_len` present) gets its window back from the chunks on first use cut
back to the ids the view counts (`StateRecords.restored`).

The last view encoded of a recently written key is kept: with the window cut back, it is the
state as a batch found it, for the driver to go back to when a fold raises
(`StateRecords.snapshot`). States in memory, folds and replay digests are unchanged: the
window is bookkeeping (`folding.facts` leaves it out), and the ids come back in their order.

Changelogs are topics like any other, so their records are in Confluent's wire format with a
schema in the registry (`ChangelogFormat`, registered under `<changelog>-<record name>`): a
view is a `livefold.state.FoldState` (the state as JSON text, as `folding.dumps` writes it,
read back with `folding.loads`), a chunk a `livefold.state.DedupeWindowChunk`. Any Confluent
consumer (`AvroDeserializer`) reads them; records written before this format (plain JSON)
still read.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import islice
from typing import TYPE_CHECKING, Any

import fastavro

from livefold.folding import SEEN, dumps, loads

if TYPE_CHECKING:
    from streams.codec import Codec

log = logging.getLogger(__name__)

CHUNK = 256
KEPT_VIEWS = 5_000  # views of this many recently written keys kept for `snapshot` (memory)
TOTAL = "_seen_total"
LENGTH = "_seen_len"


def window_table(name: str) -> str:
    return f"{name}-window"


def chunk_key(key: str, number: int) -> str:
    return f"{key}#{number}"


@dataclass(slots=True)
class Written:
    """What the window table holds for a key: ids appended so far, the oldest chunk kept, the
    newest id written (to find the ids appended since)."""

    total: int
    first_chunk: int
    last_id: str | None


@dataclass
class StateRecords:
    chunk: int = CHUNK
    written: dict[str, Written] = field(default_factory=dict)
    views: dict[str, tuple[bytes, dict[str, Any]]] = field(default_factory=dict)  # key -> last
    rebuilt: tuple[str, ...] = ()  # fields a view leaves out (the domain's `REBUILT_FIELDS`)

    def encode(
        self, key: str, state: dict[str, Any]
    ) -> tuple[bytes, list[tuple[str, dict[str, Any] | None]]]:
        """The view record, and the window chunks to write (None: delete that chunk); a chunk
        is JSON (`chunk_bytes`) in the window table's changelog."""
        window: dict[str, None] = state[SEEN]
        before = self.written.get(key)
        appended = _appended_since(window, None if before is None else before.last_id)
        if before is None or appended is None:  # first write, or the last id written is gone
            total = (0 if before is None else before.total) + len(window)
            fresh = len(window)
        else:
            total, fresh = before.total + appended, appended
        kept = len(window)
        first = (total - kept) // self.chunk
        chunks: list[tuple[str, dict[str, Any] | None]] = []
        if fresh:
            start = max(first, (total - fresh) // self.chunk) * self.chunk
            start = max(start, total - kept)
            ids = list(islice(reversed(window), total - start))[::-1]
            position = start
            while position < total:
                number = position // self.chunk
                end = min((number + 1) * self.chunk, total)
                chunk_start = max(number * self.chunk, total - kept)
                part = ids[chunk_start - start : end - start]
                record = {"stream_id": state["stream_id"], "start": chunk_start, "ids": part}
                chunks.append((chunk_key(key, number), record))
                position = end
        if before is not None:
            chunks += [(chunk_key(key, n), None) for n in range(before.first_chunk, first)]
        self.written[key] = Written(total, first, next(reversed(window), None))
        view = {**state, SEEN: {}, TOTAL: total, LENGTH: kept}
        for name in self.rebuilt:
            view.pop(name, None)
        encoded = dumps(view)
        self.views.pop(key, None)  # the newest last, so the oldest go first
        self.views[key] = (encoded, state)
        if len(self.views) > KEPT_VIEWS:
            for oldest in list(islice(self.views, KEPT_VIEWS // 4)):
                del self.views[oldest]
        return encoded, chunks

    def snapshot(self, key: str, state: dict[str, Any]) -> Callable[[], Any] | None:
        """What rebuilds `state` as it is now, if it has not changed since its view was encoded
        (folds change a state only within a batch, which encodes what it changed), else None.
        A window only grows in place (`livefold.folding.remember` appends, and trims into a new
        dict), so it goes back by dropping its newest ids down to its length now."""
        last = self.views.get(key)
        if last is None or last[1] is not state:
            return None
        encoded, window, length = last[0], state[SEEN], len(state[SEEN])

        def rebuilt() -> Any:
            restored = loads(encoded)
            del restored[TOTAL], restored[LENGTH]
            while len(window) > length:
                window.popitem()  # the newest entry
            restored[SEEN] = window
            return restored

        return rebuilt

    def restored(self, key: str, state: Any, chunks: Callable[[str], Any]) -> Any:
        """A state read from the table with its window back, if it came from a view record
        (else as it is). `chunks(chunk_key)` reads the window table."""
        if state is None or LENGTH not in state:
            return state
        total, kept = int(state.pop(TOTAL)), int(state.pop(LENGTH))
        window: dict[str, None] = {}
        first = (total - kept) // self.chunk
        for number in range(first, -(-total // self.chunk)):
            record = chunks(chunk_key(key, number))
            if record is None:
                log.warning("dedupe window chunk %s of %s is missing", number, key)
                continue
            # A chunk may hold ids past `total`: a later batch's, whose view the worker died
            # before writing (two changelogs); the state does not count them, so neither may
            # its window, or their events, read again, would be skipped.
            start = int(record["start"])
            window.update(
                dict.fromkeys(record["ids"][max(0, total - kept - start) : max(0, total - start)])
            )
        state[SEEN] = window
        self.written[key] = Written(total, first, next(reversed(window), None))
        return state


class Stage(IntEnum):
    """When a batch's changelog record may be sent: each stage once Kafka acknowledged the one
    before it (`agents.changelogs`)."""

    CHUNK = 0  # the window chunks the batch appended to
    VIEW = 1  # the views, which count the ids of those chunks
    TRIM = 2  # tombstones of the chunks the window no longer reaches


def staged(
    view: bytes, chunks: list[tuple[str, dict[str, Any] | None]]
) -> list[tuple[Stage, str | None, Any]]:
    """`encode`'s records with their stage: (stage, chunk key or None for the view, record)."""
    records: list[tuple[Stage, str | None, Any]] = [(Stage.VIEW, None, view)]
    for key, record in chunks:
        records.append((Stage.TRIM if record is None else Stage.CHUNK, key, record))
    return records


def _appended_since(window: dict[str, None], last_id: str | None) -> int | None:
    """How many ids follow `last_id` in the window; None if it is not there any more."""
    if last_id is None:
        return None
    for count, event_id in enumerate(reversed(window)):
        if event_id == last_id:
            return count
    return None


FOLD_STATE = "livefold.state.FoldState"
WINDOW_CHUNK = "livefold.state.DedupeWindowChunk"
FOLD_STATE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "FoldState",
    "namespace": "livefold.state",
    "doc": "A fold's state in its table's changelog, keyed by the state's key.",
    "fields": [
        {
            "name": "state",
            "type": "string",
            "doc": "The state as JSON, its dedupe window left out (agents/state_records.py).",
        }
    ],
}
WINDOW_CHUNK_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "DedupeWindowChunk",
    "namespace": "livefold.state",
    "doc": "Part of a fold state's dedupe window, keyed '<state key>#<chunk number>'.",
    "fields": [
        {"name": "stream_id", "type": "string", "doc": "The stream of the state."},
        {"name": "start", "type": "long", "doc": "How many ids were appended before the first."},
        {"name": "ids", "type": {"type": "array", "items": "string"}, "doc": "Event ids."},
    ],
}
_CHUNK = fastavro.parse_schema(WINDOW_CHUNK_SCHEMA)
_MAGIC = 0


@dataclass(frozen=True)
class ChangelogFormat:
    """The wire-format header (magic byte, schema id) of each changelog topic's records."""

    headers: dict[str, bytes]  # changelog topic -> header

    @classmethod
    def registered(
        cls, codec: Codec, views: Iterable[str], windows: Iterable[str]
    ) -> ChangelogFormat:
        """Register the record schemas for the views' and windows' changelog topics."""
        headers = {}
        for topics, name, schema in (
            (views, FOLD_STATE, FOLD_STATE_SCHEMA),
            (windows, WINDOW_CHUNK, WINDOW_CHUNK_SCHEMA),
        ):
            for topic in topics:
                schema_id = codec.register(f"{topic}-{name}", json.dumps(schema))
                headers[topic] = bytes([_MAGIC]) + schema_id.to_bytes(4, "big")
        return cls(headers)

    def view(self, topic: str, state_json: bytes) -> bytes:
        """A `FoldState` record: an Avro string is its length (zigzag varint), then UTF-8."""
        return self.headers[topic] + _varint(len(state_json) << 1) + state_json

    def chunk(self, topic: str, record: dict[str, Any] | None) -> bytes | None:
        if record is None:
            return None
        out = io.BytesIO()
        out.write(self.headers[topic])
        fastavro.schemaless_writer(out, _CHUNK, record)
        return out.getvalue()


def state_of(value: bytes) -> Any:
    """A fold state from its changelog record (`FoldState`, or the plain JSON of before)."""
    if value[:1] != bytes([_MAGIC]):
        return loads(value)
    length, start = _read_varint(value, 5)
    return loads(value[start : start + (length >> 1)])


def chunk_of(value: bytes) -> Any:
    """A window chunk from its changelog record (`DedupeWindowChunk`, or plain JSON)."""
    if value[:1] != bytes([_MAGIC]):
        return json.loads(value)
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), _CHUNK, None)


def _varint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    number = shift = 0
    while True:
        byte = data[at]
        number |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return number, at
        shift += 7
