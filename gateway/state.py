"""What one gateway process knows of livefold's state: the latest update of every key on the
state topics, and the recent notices of each (channel, stream), each with its Kafka position.

Every gateway fills its own copy from the compacted state topics (gateway/feed.py), so several
gateways agree without sharing memory, and a position read from one gateway means the same on
another. A cursor is a set of positions, one per partition: `"<partition>:<offset>,..."`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from streams.state import StateMessage, stream_of

Cursor = dict[int, int]  # partition -> offset of the last record covered


@dataclass(frozen=True, slots=True)
class Entry:
    partition: int
    offset: int
    kind: str  # "update" | "notice" | "rejected"
    key: str
    type: str | None
    value: dict[str, Any]

    def after(self, cursor: Cursor) -> bool:
        return self.offset > cursor.get(self.partition, -1)


@dataclass(slots=True)
class ChannelState:
    """One (channel, stream): its keys' latest updates and its recent notices."""

    updates: dict[str, Entry] = field(default_factory=dict)
    notices: deque[Entry] = field(default_factory=deque)
    dropped: Cursor = field(default_factory=dict)  # newest notice position no longer kept
    position: Cursor = field(default_factory=dict)  # newest record position of any kind

    def cursor(self) -> str:
        return format_cursor(self.position)

    def missed(self, cursor: Cursor) -> tuple[list[Entry], list[Entry], bool]:
        """Updates and notices after `cursor`, and whether every missed notice is still here."""
        complete = all(cursor.get(p, -1) >= offset for p, offset in self.dropped.items())
        updates = [entry for entry in self.updates.values() if entry.after(cursor)]
        notices = [entry for entry in self.notices if entry.after(cursor)]
        return updates, notices, complete


def format_cursor(cursor: Cursor) -> str:
    return ",".join(f"{partition}:{offset}" for partition, offset in sorted(cursor.items()))


def parse_cursor(text: str) -> Cursor:
    """Raise ValueError with the reason for anything but `"<partition>:<offset>,..."`."""
    cursor: Cursor = {}
    if not text:
        return cursor
    for part in text.split(","):
        partition, colon, offset = part.partition(":")
        if not colon or not partition.isdigit() or not offset.lstrip("-").isdigit():
            raise ValueError(f"cursor part {part!r} is not '<partition>:<offset>'")
        cursor[int(partition)] = int(offset)
    if len(cursor) > 1024:
        raise ValueError("a cursor names at most 1024 partitions")
    return cursor


def as_stored(channel: str, value: dict[str, Any]) -> dict[str, Any]:
    return value


class StateStore:
    def __init__(
        self,
        notices_kept: int = 500,
        shown: Callable[[str, dict[str, Any]], dict[str, Any]] = as_stored,
    ):
        """`shown(channel, value)`: a value as clients see it (sealed texts opened,
        gateway/texts.py); every read and frame goes through it."""
        self.notices_kept = notices_kept
        self.shown = shown
        self.channels: dict[tuple[str, str], ChannelState] = {}
        self.records = 0

    def apply(self, partition: int, offset: int, message: StateMessage) -> Entry:
        entry = Entry(partition, offset, message.kind, message.key, message.type, message.value)
        stream = message.stream_id or stream_of(message.key)
        state = self.channels.get((message.channel, stream))
        if state is None:
            state = self.channels[(message.channel, stream)] = ChannelState()
        state.position[partition] = offset
        self.records += 1
        if message.kind == "update":
            state.updates[message.key] = entry
        elif message.kind == "notice":
            state.notices.append(entry)
            if len(state.notices) > self.notices_kept:
                gone = state.notices.popleft()
                state.dropped[gone.partition] = gone.offset
        return entry

    def channel(self, channel: str, stream_id: str) -> ChannelState | None:
        return self.channels.get((channel, stream_id))

    def view(self, channel: str, key: str) -> dict[str, Any] | None:
        state = self.channels.get((channel, stream_of(key)))
        entry = None if state is None else state.updates.get(key)
        return None if entry is None else self.shown(channel, entry.value)

    def views(self, channel: str, stream_id: str, prefix: str = "") -> list[dict[str, Any]]:
        """The latest values of a stream's keys on a channel (those starting with `prefix`)."""
        state = self.channels.get((channel, stream_id))
        if state is None:
            return []
        return [
            self.shown(channel, e.value)
            for key, e in state.updates.items()
            if key.startswith(prefix)
        ]

    def all_views(self, channel: str) -> Iterator[dict[str, Any]]:
        """The value of every stream's own key (`<stream_id>`) on a channel."""
        for (name, stream_id), state in self.channels.items():
            if name == channel and (entry := state.updates.get(stream_id)) is not None:
                yield self.shown(channel, entry.value)
