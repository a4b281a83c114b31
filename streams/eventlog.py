"""`livefold events ...`: read the log as JSON lines, export and import it, count it.

JSON lines carry `{"topic", "partition", "offset", "type": <record fullname>, "body": {...}}`;
`bytes` fields become `{"base64": "..."}` so the form round-trips exactly. An Avro container
file holds one `livefold.export.LoggedEvent` per event: where it was in the log (topic,
partition, offset) and the event as its schema defines it, logical types (uuid,
timestamp-millis) included. Import reads both forms (and older containers of bare events),
keeping only the events the filters let through.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import fastavro

from livefold.settings import Settings
from streams.codec import Codec
from streams.consumer import EventReader, Record, TopicFollower, read_to_end
from streams.events import Event, to_millis
from streams.producer import EventProducer


def to_json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json_value(item) for item in value]
    return value


def from_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"base64"}:
            return base64.b64decode(value["base64"])
        return {key: from_json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json_value(item) for item in value]
    return value


def event_line(event: Event, **extra: Any) -> str:
    return json.dumps({**extra, "type": event.type, "body": to_json_value(event.body)})


@dataclass(frozen=True)
class Filter:
    stream_id: str | None = None
    types: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def __call__(self, event: Event) -> bool:
        if self.stream_id is not None and event.stream_id != self.stream_id:
            return False
        if self.types and event.type not in self.types and event.name not in self.types:
            return False
        if self.since is not None and event.occurred_at_ms < to_millis(self.since):
            return False
        return self.until is None or event.occurred_at_ms < to_millis(self.until)


class EventLog:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.codec = Codec.from_settings(settings)
        self._producer: EventProducer | None = None

    @property
    def producer(self) -> EventProducer:
        if self._producer is None:
            self._producer = EventProducer(self.settings, self.codec)
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()

    def topics(self, only: Iterable[str] = ()) -> list[str]:
        known = self.codec.catalog.topics()
        chosen = list(only) or known
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise ValueError(f"unknown topic(s) {', '.join(unknown)}; event topics: {known}")
        return chosen

    def read_all(self, topics: list[str], keep: Filter = Filter()) -> Iterator[Record]:
        for record in read_to_end(self.settings, self.codec, topics, self.producer):
            if keep(record.event):
                yield record

    def tail(
        self, topics: list[str], keep: Filter, *, from_beginning: bool, limit: int | None
    ) -> Iterator[str]:
        follower = TopicFollower(self.settings.kafka_config(), topics, None, "livefold-tail")
        reader = EventReader(follower.consumer, self.codec, self.producer)
        since = None if from_beginning else int(time.time() * 1000)
        printed = 0
        if limit is not None and limit <= 0:
            return
        for message in follower.read(since_ms=since):
            record = reader.decode(message)
            if record is None or not keep(record.event):
                continue
            printed += 1
            yield event_line(
                record.event, topic=record.topic, partition=record.partition, offset=record.offset
            )
            if limit is not None and printed >= limit:
                return

    def export(self, topics: list[str], keep: Filter, out: Path, fmt: str) -> int:
        records = self.read_all(topics, keep)
        count = 0
        if fmt == "jsonl":
            with out.open("w") as sink:
                for record in records:
                    sink.write(record_line(record) + "\n")
                    count += 1
            return count
        events = container_schema([t.definition for t in self._types(topics)])

        def entries() -> Iterator[dict[str, Any]]:
            nonlocal count
            for record in records:
                count += 1
                yield {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "event": (record.event.type, record.event.body),
                }

        with out.open("wb") as container:
            fastavro.writer(container, logged_event_schema(events), entries(), codec="deflate")
        return count

    def import_file(
        self, source: Path, keep: Filter = Filter(), topics: Iterable[str] = ()
    ) -> tuple[int, int]:
        """Append the file's events (those `keep` and `topics` let through) that the log does
        not hold yet; (appended, skipped)."""
        only = set(self.topics(topics)) if topics else None
        events = [
            event
            for event in read_events_file(source)
            if keep(event) and (only is None or self.codec.topic_of(event) in only)
        ]
        topics = sorted({self.codec.topic_of(event) for event in events})
        present = {record.event.event_id for record in self.read_all(topics)}
        fresh: list[Event] = []
        for event in events:
            if event.event_id not in present:
                present.add(event.event_id)
                fresh.append(event)
        self.producer.append_all(fresh)
        return len(fresh), len(events) - len(fresh)

    def stats(self, topics: list[str], keep: Filter = Filter()) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {topic: Counter() for topic in topics}
        for record in self.read_all(topics, keep):
            counts[record.topic][record.event.name] += 1
        return {topic: dict(sorted(by_type.items())) for topic, by_type in counts.items()}

    def _types(self, topics: list[str]) -> list[Any]:
        return [t for topic in topics for t in self.codec.catalog.on_topic(topic)]


def container_schema(records: list[dict[str, Any]]) -> Any:
    """One union of every record type for an Avro container file. A named type that several
    records define (an enum such as Role) is defined once and referenced by name afterwards,
    since Avro forbids redefining a name within one schema."""
    defined: set[str] = set()

    def walk(node: Any, namespace: str) -> Any:
        if isinstance(node, list):
            return [walk(item, namespace) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("type") in ("record", "enum", "fixed"):
            name = node["name"]
            space = node.get("namespace", namespace)
            fullname = name if "." in name else f"{space}.{name}"
            if fullname in defined:
                return fullname
            defined.add(fullname)
            namespace = fullname.rsplit(".", 1)[0]
            if node["type"] == "record":
                fields = [{**f, "type": walk(f["type"], namespace)} for f in node["fields"]]
                return {**node, "name": fullname, "fields": fields}
            return {**node, "name": fullname}
        if node.get("type") in ("array", "map"):
            key = "items" if node["type"] == "array" else "values"
            return {**node, key: walk(node[key], namespace)}
        return node

    return [walk(record, "") for record in records]


def logged_event_schema(events: list[Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "LoggedEvent",
        "namespace": "livefold.export",
        "doc": "An event and where it was in the log.",
        "fields": [
            {"name": "topic", "type": "string"},
            {"name": "partition", "type": "int"},
            {"name": "offset", "type": "long"},
            {"name": "event", "type": events},
        ],
    }


def record_line(record: Record) -> str:
    return event_line(
        record.event, topic=record.topic, partition=record.partition, offset=record.offset
    )


def plain(value: Any) -> Any:
    """A value read with its logical types (datetime, UUID) as the body holds it."""
    if isinstance(value, datetime):
        return to_millis(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def write_json_lines(events: Iterable[Event], sink: IO[str]) -> int:
    count = 0
    for event in events:
        sink.write(event_line(event) + "\n")
        count += 1
    return count


def read_events_file(source: Path) -> Iterator[Event]:
    with source.open("rb") as probe:
        is_avro = probe.read(4) == b"Obj\x01"
    if is_avro:
        with source.open("rb") as stream:
            for item in fastavro.reader(stream, return_record_name=True):
                if isinstance(item, dict) and "event" in item:  # a LoggedEvent
                    item = item["event"]
                fullname, body = cast(tuple[str, dict[str, Any]], item)
                yield Event(fullname, plain(body))
        return
    with source.open() as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                yield Event(item["type"], from_json_value(item["body"]))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{source}:{number}: not a livefold event line ({error})"
                ) from None
