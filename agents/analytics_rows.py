"""From consumed records to rows of the `events` table, each stored once.

A driver (the live sink, a replay) turns records into rows with `EventsTable.rows` and inserts
them with `EventsTable.insert`, or does both with `write`. What makes a record's row reach
ClickHouse once, whatever Kafka re-delivers:

- Re-delivered records (a sink that inserted but crashed before committing its offsets, a
  rebalance) are skipped by position: on taking over a partition the table asks ClickHouse
  which offsets it holds from where reading resumes (the group's committed offset) on, as
  ranges, and skips exactly those. Not "everything up to the highest offset stored": rows that
  another writer stored (a sink of another consumer group on the same tables) may stand past
  records this group has not stored yet, which would then be skipped and lost.
- The same event appended twice (a client retrying) has a new offset but its old id: the
  table remembers each partition's last `DEDUPE_WINDOW` event ids (the folds' window, so
  analytics and live state agree on what counts), seeded from ClickHouse on take-over.
- An insert that failed ambiguously (a timeout) is retried with the same deduplication
  token, and ClickHouse drops the copy if the first attempt landed, in the views too.

Every event has the same stream key on one topic, so all copies of an event are on one
partition and the memory per partition is enough.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.binding import quote_identifier

from agents.analytics_schema import EVENT_COLUMN_NAMES, EVENT_COLUMNS, checked_prefix
from livefold.folding import DEDUPE_WINDOW, bounded
from streams.consumer import Record
from streams.events import ENVELOPE_FIELDS

DAY_MS = 86_400_000
Partition = tuple[str, int]
Row = tuple[Any, ...]
TOPIC, PARTITION = 8, 9  # where a row holds its record's position

_EMPTY: list[str] = []
_COLUMN_TYPES = [kind for _, kind in EVENT_COLUMNS]
_USER_FIELDS = ("viewer_id", "user_id", "guest_id")


def holds(ranges: list[tuple[int, int]], offset: int) -> bool:
    """Whether one of the ascending (first, last) offset ranges holds `offset`."""
    at = bisect.bisect_right(ranges, (offset, offset)) - 1
    return at >= 0 and ranges[at][0] <= offset <= ranges[at][1]


def row_of(record: Record) -> Row:
    """The `events` row of a record, in `EVENT_COLUMNS` order."""
    event = record.event
    body = event.body
    full_type = event.type
    _, domain, name = full_type.split(".", 2)
    user = body.get("viewer_id") or body.get("user_id") or body.get("guest_id") or event.actor_id
    if name == "VoteCast":
        options = list(body.get("option_ids") or _EMPTY)
    elif name == "QuizAnswerSubmitted":
        options = [body["option_id"]]
    elif name == "QuizAnswerRevealed":
        options = [body["correct_option"]]
    else:
        options = _EMPTY
    payload = {
        key: value
        for key, value in body.items()
        if key not in ENVELOPE_FIELDS and not isinstance(value, bytes)
    }
    return (
        str(body["event_id"]),
        full_type,
        domain,
        name,
        str(body["stream_id"]),
        str(body["actor_id"]),
        int(body["occurred_at"]),
        body.get("trace_id") or "",
        record.topic,
        record.partition,
        record.offset,
        str(user),
        body.get("message_id") or "",
        body.get("poll_id") or "",
        options,
        body.get("quiz_id") or "",
        body.get("question_id") or "",
        body.get("session_id") or "",
        body.get("tip_id") or "",
        body.get("idempotency_key") or "",
        int(body.get("amount_minor") or 0),
        body.get("currency") or "",
        (body.get("kind") or "") if name == "ReactionSent" else "",
        int(body.get("count") or 0) if name == "ReactionSent" else 0,
        body.get("device") or "",
        body.get("country") or "",
        body.get("verdict") or "",
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str),
    )


class EventsTable:
    """The `events` table of one set (prefix), written by one driver, partition by partition."""

    def __init__(self, client: Client, database: str, prefix: str = ""):
        self.client = client
        self.database = database
        self.table = checked_prefix(prefix) + "events"
        self.stored: dict[Partition, list[tuple[int, int]]] = {}  # offset ranges, ascending
        self.recent: dict[Partition, dict[str, None]] = {}
        self.skipped_stored = 0
        self.skipped_duplicates = 0

    def take_over(
        self, partitions: Iterable[Partition], resume_at: Mapping[Partition, int] | None = None
    ) -> None:
        """Learn what ClickHouse holds of these partitions (on assignment, before reading) from
        where reading resumes on (`resume_at`, by partition; default: offset zero)."""
        wanted = sorted(set(partitions))
        since = {partition: max(0, (resume_at or {}).get(partition, 0)) for partition in wanted}
        for partition in wanted:
            self.stored[partition] = []
            self.recent[partition] = {}
        if not wanted:
            return
        found = self.client.query(
            f"SELECT topic, partition, offset FROM {self._name}"
            " WHERE (topic, partition) IN {wanted:Array(Tuple(String, UInt16))}"
            " AND offset >= {lowest:Int64} ORDER BY topic, partition, offset",
            parameters={"wanted": wanted, "lowest": min(since.values())},
        )
        for topic, number, offset in found.result_rows:
            partition, offset = (str(topic), int(number)), int(offset)
            if offset < since[partition]:
                continue
            ranges = self.stored[partition]
            if ranges and ranges[-1][1] >= offset - 1:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], offset))
            else:
                ranges.append((offset, offset))
        for partition, ranges in self.stored.items():
            if partition not in since or not ranges:
                continue
            recent = self.client.query(
                f"SELECT event_id FROM {self._name} WHERE topic = {{topic:String}}"
                " AND partition = {number:UInt16} AND offset > {since:Int64} ORDER BY offset",
                parameters={
                    "topic": partition[0],
                    "number": partition[1],
                    "since": ranges[-1][1] - 2 * DEDUPE_WINDOW,
                },
            )
            ids = self.recent[partition]
            for (event_id,) in recent.result_rows:
                ids[event_id] = None
            self.recent[partition] = bounded(ids, DEDUPE_WINDOW)

    def give_up(self, partitions: Iterable[Partition]) -> None:
        """Forget partitions another driver now owns (on revocation, after the last write)."""
        for partition in partitions:
            self.stored.pop(partition, None)
            self.recent.pop(partition, None)

    def admit(self, record: Record) -> Row | None:
        """The record's row, or None if it is stored already or repeats a recent event."""
        partition = (record.topic, record.partition)
        ranges = self.stored.get(partition)
        if ranges is None:
            self.take_over([partition])
            ranges = self.stored[partition]
        if holds(ranges, record.offset):
            self.skipped_stored += 1
            return None
        recent = self.recent[partition]
        event_id = record.event.event_id
        if event_id in recent:
            self.skipped_duplicates += 1
            return None
        recent[event_id] = None
        if len(recent) > DEDUPE_WINDOW + DEDUPE_WINDOW // 4:
            self.recent[partition] = bounded(recent, DEDUPE_WINDOW)
        return row_of(record)

    def rows(self, records: Iterable[Record]) -> list[Row]:
        """The rows of the records not stored yet, remembered as stored from now on: insert
        them (again, with the same token, if an insert fails) before reading on."""
        return [row for row in map(self.admit, records) if row is not None]

    def insert(self, rows: list[Row], token: str) -> None:
        """One insert per day, so each is one data part (atomic). An insert retried with the
        same token is dropped by ClickHouse if the earlier attempt landed after all."""
        by_day: dict[int, list[Row]] = defaultdict(list)
        for row in rows:
            by_day[row[6] // DAY_MS].append(row)
        settings = {
            "insert_deduplicate": 1,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
        }
        for day, day_rows in sorted(by_day.items()):
            self.client.insert(
                self.table,
                day_rows,
                column_names=EVENT_COLUMN_NAMES,
                database=self.database,
                column_type_names=_COLUMN_TYPES,
                settings={**settings, "insert_deduplication_token": f"{token}/{day}"},
            )

    def write(self, records: Iterable[Record]) -> int:
        """Insert the rows of the records not stored yet; the number of rows inserted."""
        rows = self.rows(records)
        self.insert(rows, uuid.uuid4().hex)
        return len(rows)

    @property
    def _name(self) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(self.table)}"
