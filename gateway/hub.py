"""Fan-out of state records to this process's WebSocket subscribers.

Records for a (channel, stream) gather in a pending batch, which becomes one frame: every
update coalesced to the latest per key, every notice in order. Batching adapts to the load: a
topic that sent no frame in the last `batch_seconds` sends at once (at the end of the feed's
delivery, so the records that arrived together share a frame); a busy one sends at most one
frame every `batch_seconds`, or every as long as its last frame took to write, if longer. The
frame is encoded once, to wire bytes, and handed to each subscriber's socket without awaiting
(`Subscriber.send_frame`); a socket whose buffer is over its bound is dropped by its
connection, never waited for.

Keys `<stream>/.../u/<user>` are one user's own view (a quiz player's rank): they go only to
that user's sockets. A `rejected` record (an event a fold refused after its 202, or
moderation's word on a chat message: held for review, blocked) goes at once, as a `rejected`
(or `held`) frame, to every socket signed in as the event's actor, subscribed or not: the
author learns what became of their write, on whichever gateway they are. A notification
(streams/inboxes.py) goes the same way, as a `notification` frame, to each of its recipients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway import metrics
from gateway.frames import Wire
from gateway.state import Entry, StateStore, format_cursor

Topic = tuple[str, str]  # (channel, stream id)


class Subscriber(Protocol):
    user_id: str | None

    def send_frame(self, wire: Wire) -> int:
        """Write the frame (plain or compressed, as the socket negotiated); the bytes written."""
        ...

    def recheck(self) -> None:
        """What the socket's user may do has changed: keep only what is still allowed."""
        ...


def personal_to(key: str) -> str | None:
    head, marker, user = key.rpartition("/u/")
    return user if marker and head else None


def _without_history(value: dict[str, Any]) -> dict[str, Any]:
    return {name: item for name, item in value.items() if name != "messages"}


# What a live update carries, per channel (a snapshot always carries the whole view): chat's
# recent messages already reached subscribers one by one, as notices.
LIVE_VIEW: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"chat": _without_history}
Shown = Callable[[str, dict[str, Any]], dict[str, Any]]  # StateStore.shown


def update_item(channel: str, entry: Entry, shown: Shown, live: bool) -> dict[str, Any]:
    """An update as frames carry it, its value as clients see it (`StateStore.shown`: opened
    after the live view trimmed it, so chat's history is not opened for every batch)."""
    shape = LIVE_VIEW.get(channel) if live else None
    return {"key": entry.key, "value": shown(channel, shape(entry.value) if shape else entry.value)}


def notice_item(entry: Entry, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": entry.key,
        "kind": entry.type,
        "pos": f"{entry.partition}:{entry.offset}",
        "value": value,
    }


_NOT_IN_FRAMES = frozenset({"frame", "stream_id", "actor_id"})


@dataclass(slots=True)
class Pending:
    since: float  # when its first record came (perf_counter)
    updates: dict[str, Entry] = field(default_factory=dict)
    notices: list[Entry] = field(default_factory=list)
    personal: dict[str, dict[str, Entry]] = field(default_factory=dict)


class Hub:
    def __init__(self, store: StateStore, batch_seconds: float = 0.05):
        self.store = store
        self.batch_seconds = batch_seconds
        self.subscribers: dict[Topic, set[Subscriber]] = {}
        self.by_user: dict[tuple[str, str, str], set[Subscriber]] = {}
        self.signed_in: dict[str, set[Subscriber]] = {}  # user id -> that user's sockets
        self.pending: dict[Topic, Pending] = {}
        self.sent_at: dict[Topic, float] = {}  # a topic's last frame (perf_counter)
        self.gap: dict[Topic, float] = {}  # the least time between a topic's frames
        self._due: dict[Topic, asyncio.Handle] = {}  # the scheduled frame of a pending topic
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ records in

    def publish(self, channel: str, stream_id: str, entry: Entry) -> None:
        if entry.kind == "rejected":
            self._rejected(channel, stream_id, entry)
            return
        topic = (channel, stream_id)
        if topic not in self.subscribers:
            return
        pending = self.pending.get(topic)
        if pending is None:
            pending = self.pending[topic] = Pending(time.perf_counter())
            self._schedule(topic, pending.since)
        if entry.kind == "notice":
            pending.notices.append(entry)
        elif (user := personal_to(entry.key)) is not None:
            pending.personal.setdefault(user, {})[entry.key] = entry
        else:
            pending.updates[entry.key] = entry

    def _rejected(self, channel: str, stream_id: str, entry: Entry) -> None:
        actor = entry.value.get("actor_id")
        sockets = self.signed_in.get(actor) if isinstance(actor, str) else None
        if not sockets:
            return
        value = entry.value
        wire = Wire(
            {
                **{name: item for name, item in value.items() if name not in _NOT_IN_FRAMES},
                "type": value.get("frame") or "rejected",
                "channel": channel,
                "stream": stream_id,
                "event_id": value.get("event_id"),
                "event_type": value.get("event_type"),
                "reason": value.get("reason"),
            }
        )
        for subscriber in list(sockets):
            subscriber.send_frame(wire)
        metrics.frames_sent.inc(len(sockets))

    def notify(self, users: list[str], notification: dict[str, Any]) -> None:
        """A `notification` frame to every socket of these users, subscribed or not."""
        wire: Wire | None = None
        for user in users:
            for subscriber in list(self.signed_in.get(user, ())):
                wire = wire or Wire({"type": "notification", "notification": notification})
                subscriber.send_frame(wire)
                metrics.frames_sent.inc()

    # ------------------------------------------------------------ sockets

    def sign_in(self, subscriber: Subscriber) -> None:
        """Count a socket as its user's (for rejections), once it is signed in."""
        if subscriber.user_id is not None:
            self.signed_in.setdefault(subscriber.user_id, set()).add(subscriber)

    def sign_out(self, subscriber: Subscriber) -> None:
        user = subscriber.user_id
        sockets = None if user is None else self.signed_in.get(user)
        if user is None or sockets is None:
            return
        sockets.discard(subscriber)
        if not sockets:
            del self.signed_in[user]

    def recheck_user(self, user_id: str) -> None:
        """Every socket signed in as `user_id` checks its rights again."""
        for subscriber in list(self.signed_in.get(user_id, ())):
            subscriber.recheck()

    def recheck_subscribers(self, channels: frozenset[str], stream_id: str | None) -> None:
        """Every subscriber of these channels, of one stream (None: of any), checks its rights."""
        topics = [
            topic
            for topic in self.subscribers
            if topic[0] in channels and stream_id in (None, topic[1])
        ]
        for topic in topics:
            for subscriber in list(self.subscribers.get(topic, ())):
                subscriber.recheck()

    def subscribe(self, subscriber: Subscriber, channel: str, stream_id: str) -> None:
        """Register right after sending the snapshot (after `flush_one` of the topic)."""
        topic = (channel, stream_id)
        self.subscribers.setdefault(topic, set()).add(subscriber)
        if subscriber.user_id is not None:
            self.by_user.setdefault((channel, stream_id, subscriber.user_id), set()).add(subscriber)
        metrics.subscriptions.inc()

    def unsubscribe(self, subscriber: Subscriber, channel: str, stream_id: str) -> None:
        topic = (channel, stream_id)
        subscribers = self.subscribers.get(topic)
        if subscribers is None or subscriber not in subscribers:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self.subscribers[topic]
            self.pending.pop(topic, None)
            self.sent_at.pop(topic, None)
            self.gap.pop(topic, None)
            self._cancel(topic)
        if subscriber.user_id is not None:
            mine = self.by_user.get((channel, stream_id, subscriber.user_id))
            if mine is not None:
                mine.discard(subscriber)
                if not mine:
                    del self.by_user[(channel, stream_id, subscriber.user_id)]
        metrics.subscriptions.dec()

    def snapshot(
        self, channel: str, stream_id: str, user_id: str | None, cursor: dict[int, int] | None
    ) -> dict[str, Any]:
        """What a new subscriber gets first: the current views (or, resuming from `cursor`,
        what changed since, and the notices it missed)."""
        state = self.store.channel(channel, stream_id)
        document: dict[str, Any] = {
            "type": "snapshot",
            "stream": stream_id,
            "channel": channel,
            "cursor": "",
            "resumed": cursor is not None,
            "complete": True,
            "updates": [],
            "notices": [],
        }
        if state is None:
            return document
        updates = list(state.updates.values())
        notices: list[Entry] = []
        if cursor is not None:
            changed, notices, complete = state.missed(cursor)
            document["complete"] = complete
            if complete:
                updates = changed
        document["cursor"] = format_cursor(state.position)
        shown = self.store.shown
        document["updates"] = [
            update_item(channel, entry, shown, live=False)
            for entry in updates
            if personal_to(entry.key) in (None, user_id)
        ]
        document["notices"] = [notice_item(entry, shown(channel, entry.value)) for entry in notices]
        return document

    # ------------------------------------------------------------ frames out

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        for handle in self._due.values():
            handle.cancel()
        self._due.clear()

    def _schedule(self, topic: Topic, now: float) -> None:
        loop = self._loop
        if loop is None:  # not started (a hub driven by hand): `flush` sends
            return
        gap = self.gap.get(topic, self.batch_seconds)
        due = self.sent_at.get(topic, -gap) + gap
        if due <= now:
            self._due[topic] = loop.call_soon(self.flush_one, topic)
        else:
            self._due[topic] = loop.call_later(due - now, self.flush_one, topic)

    def _cancel(self, topic: Topic) -> None:
        handle = self._due.pop(topic, None)
        if handle is not None:
            handle.cancel()

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for topic, batch in pending.items():
            self._cancel(topic)
            self._broadcast(topic, batch)

    def flush_one(self, topic: Topic) -> None:
        self._cancel(topic)
        batch = self.pending.pop(topic, None)
        if batch is not None:
            self._broadcast(topic, batch)

    def _broadcast(self, topic: Topic, batch: Pending) -> None:
        subscribers = self.subscribers.get(topic)
        if not subscribers:
            return
        started = time.perf_counter()
        self.sent_at[topic] = started
        metrics.hub_hold_seconds.observe(started - batch.since)
        channel, stream_id = topic
        state = self.store.channel(channel, stream_id)
        cursor = "" if state is None else format_cursor(state.position)
        if batch.updates or batch.notices:
            wire = Wire(self._batch(channel, stream_id, cursor, batch.updates, batch.notices))
            sent = 0
            for subscriber in list(subscribers):
                sent += subscriber.send_frame(wire)
            metrics.frames_sent.inc(len(subscribers))
            metrics.bytes_sent.inc(sent)
        for user, updates in batch.personal.items():
            for subscriber in list(self.by_user.get((channel, stream_id, user), ())):
                wire = Wire(self._batch(channel, stream_id, cursor, updates, []))
                subscriber.send_frame(wire)
                metrics.frames_sent.inc()
        took = time.perf_counter() - started
        # A frame that took longer to write than the interval (thousands of sockets on a busy
        # machine) spaces the next one as far: the loop writes at most half of the time.
        self.gap[topic] = max(self.batch_seconds, took)
        metrics.broadcast_seconds.observe(took)

    def _batch(
        self,
        channel: str,
        stream_id: str,
        cursor: str,
        updates: dict[str, Entry],
        notices: list[Entry],
    ) -> dict[str, Any]:
        shown = self.store.shown
        return {
            "type": "batch",
            "stream": stream_id,
            "channel": channel,
            "cursor": cursor,
            "updates": [
                update_item(channel, entry, shown, live=True) for entry in updates.values()
            ],
            "notices": [notice_item(entry, shown(channel, entry.value)) for entry in notices],
        }
