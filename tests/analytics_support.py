"""For the analytics tests: the sink as a real process, waiting for a consumer group to catch up,
the documented queries, and a stream whose analytics are known."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clickhouse_connect.driver import Client
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from agents import analytics
from infra.service import RunningService
from livefold.settings import Settings
from streams.events import Event, new_event
from tests.servers import log_to

DOC = Path(__file__).resolve().parent.parent / "docs" / "analytics.md"
T0 = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)


class Sink:
    """`python -m agents.analytics` against the test stack; `restart()` swaps the process."""

    def __init__(self, settings: Settings, group: str = analytics.GROUP):
        self.settings = settings
        self.group = group
        self.handle: RunningService | None = None

    def start(self) -> None:
        service = analytics.service(self.settings, self.group)
        self.handle = RunningService(service, log_to(self.settings.data_dir / "logs")(service))
        self.handle.start()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None

    def restart(self, while_stopped: Callable[[], Any] = lambda: None) -> None:
        self.stop()
        while_stopped()
        self.start()


def wait_caught_up(
    settings: Settings, group: str, timeout: float = 60.0, topics: list[str] | None = None
) -> float:
    """Wait until `group` has committed everything now on the topics (default: every event
    topic); seconds waited."""
    started = time.monotonic()
    while behind := analytics.lag(settings, group, topics):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"group {group} still behind after {timeout}s: {behind}")
        time.sleep(0.1)
    return time.monotonic() - started


def rewind(settings: Settings, group: str, positions: dict[tuple[str, int], int]) -> None:
    """Set a group's committed offsets back (its members must be stopped): Kafka re-delivers."""
    admin = AdminClient(settings.kafka_config())
    partitions = [TopicPartition(t, p, offset) for (t, p), offset in sorted(positions.items())]
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    admin.alter_consumer_group_offsets(request)[group].result()


def start_at_end(settings: Settings, group: str) -> None:
    """Let a new group begin after what the event topics hold now."""
    ends = analytics.lag(settings, f"probe-{uuid.uuid4().hex}")  # a group that has read nothing
    if ends:  # (empty topics: the group starts at their end anyway)
        rewind(settings, group, ends)


def documented_queries() -> dict[str, str]:
    """The analyst queries of docs/analytics.md, by name, exactly as documented."""
    found = re.findall(r"```sql\n-- query: (\w+)\n(.*?)```", DOC.read_text(), re.S)
    return dict(found)


def run(client: Client, query: str, **parameters: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in client.query(documented_queries()[query], parameters).result_rows]


def stored(client: Client, stream_id: str) -> int:
    return int(
        client.command(
            "SELECT count() FROM events FINAL WHERE stream_id = {s:String}",
            parameters={"s": stream_id},
        )
    )


def wait_for_rows(client: Client, stream_id: str, rows: int, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while stored(client, stream_id) < rows:
        assert time.monotonic() - started < timeout, f"{stream_id}: rows missing after {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - started


class Script:
    """One stream's events in the order they are appended; `again` re-appends an event."""

    def __init__(self, stream_id: str):
        self.stream_id = stream_id
        self.host = f"{stream_id}-host"
        self.events: list[Event] = []

    def add(self, type_: str, seconds: float, actor: str, **payload: Any) -> Event:
        event = new_event(
            f"livefold.{type_}",
            stream_id=self.stream_id,
            actor_id=actor,
            occurred_at=T0 + timedelta(seconds=seconds),
            **payload,
        )
        self.events.append(event)
        return event

    def again(self, event: Event) -> None:
        self.events.append(event)

    def say(self, seconds: float, author: str, message_id: str, verdict: str) -> None:
        self.add(
            "chat.MessageSent",
            seconds,
            author,
            message_id=message_id,
            text="hi",
            reply_to=None,
            emotes=[],
        )
        self.add(
            "moderation.VerdictIssued",
            seconds + 0.01,
            "system",
            message_id=message_id,
            verdict=verdict,
            rule="automod",
            score=0.5,
        )

    def presence(self, kind: str, seconds: float, viewer: str, session: str, **more: Any) -> None:
        self.add(
            f"audience.Viewer{kind}", seconds, viewer, viewer_id=viewer, session_id=session, **more
        )

    def vote(self, seconds: float, voter: str, poll: str, *options: str) -> Event:
        return self.add("polls.VoteCast", seconds, voter, poll_id=poll, option_ids=list(options))

    def tip(self, kind: str, seconds: float, tip_id: str, amount: int, currency: str) -> None:
        extra: dict[str, Any] = {
            "TipCaptured": {"provider_reference": None},
            "TipRefunded": {"reason": None},
            "TipIntentCreated": {"message": None},
        }[kind]
        actor = "alice" if kind == "TipIntentCreated" else "system"
        self.add(
            f"tips.{kind}",
            seconds,
            actor,
            tip_id=tip_id,
            amount_minor=amount,
            currency=currency,
            idempotency_key=f"key-{tip_id}",
            **extra,
        )


def known_session(stream_id: str) -> list[Event]:
    """Two minutes of a stream whose analytics are worked out by hand in the tests below."""
    s = Script(stream_id)
    s.add(
        "stream.Created",
        0,
        s.host,
        title="Known",
        category="games",
        tags=[],
        scheduled_start=None,
        language="en",
    )
    s.add("stream.WentLive", 1, s.host, ingest_id=None)
    for poll, options, multi, change in (("p1", "abc", False, True), ("p2", "xy", True, False)):
        s.add(
            "polls.PollCreated",
            0,
            s.host,
            poll_id=poll,
            question="Which?",
            options=[{"option_id": o, "text": o} for o in options],
            multi_select=multi,
            allow_vote_change=change,
            duration_seconds=60 if poll == "p1" else 120,
        )
        s.add("polls.PollOpened", 1, s.host, poll_id=poll, closes_at=None)
    s.presence("Joined", 2, "alice", "s1", device="phone", country="DE")
    s.presence("Joined", 3, "bob", "s2", device="desktop", country=None)
    s.presence("Joined", 4, "carol", "s3", device="tablet", country="BR")
    s.say(5, "alice", "m1", "allow")
    s.again(s.events[-2])  # the message appended twice
    s.say(10, "bob", "m4", "hold")
    heart = s.add("reactions.ReactionSent", 11, "alice", kind="heart", count=5)
    s.add("reactions.ReactionSent", 12, "bob", kind="fire", count=2)
    s.again(heart)
    s.vote(10, "alice", "p1", "a")
    s.vote(12, "bob", "p1", "b")
    s.vote(15, "carol", "p1", "b")
    s.say(20, "alice", "m2", "allow")
    s.vote(20, "frank", "p2", "x", "y")
    s.presence("Heartbeat", 22, "alice", "s1")
    s.presence("Heartbeat", 24, "carol", "s3")  # carol's last sign of life
    s.again(s.vote(25, "gina", "p2", "x"))
    s.add("reactions.ReactionSent", 26, "carol", kind="heart", count=10)
    s.say(30, "carol", "m6", "block")
    s.vote(30, "frank", "p2", "y")  # p2 forbids changing a vote
    s.tip("TipIntentCreated", 29, "t1", 500, "EUR")
    s.tip("TipCaptured", 30, "t1", 500, "EUR")
    s.tip("TipCaptured", 31, "t1", 500, "EUR")  # a retried webhook: same idempotency key
    s.tip("TipIntentCreated", 34, "t2", 1000, "USD")
    s.tip("TipCaptured", 35, "t2", 1000, "USD")
    s.tip("TipIntentCreated", 36, "t3", 250, "EUR")
    s.add("tips.TipFailed", 37, "system", tip_id="t3", reason="declined", idempotency_key="key-t3")
    s.vote(40, "alice", "p1", "c")  # a re-vote replaces "a"
    s.presence("Heartbeat", 42, "alice", "s1")
    s.add("polls.PollClosed", 45, s.host, poll_id="p2", reason="closed_by_host")
    s.vote(44, "hank", "p2", "y")  # stamped before the close, appended after it
    s.presence("Left", 50, "bob", "s2")
    s.add(
        "moderation.VerdictIssued",
        52,
        s.host,
        message_id="m4",
        verdict="allow",
        rule="moderator",
        score=0.0,
    )
    s.presence("Joined", 55, "dave", "s5", device="phone", country=None)
    s.presence("Joined", 60, "alice", "s4", device="desktop", country="DE")  # a second tab
    s.vote(62, "dave", "p1", "a")  # past p1's deadline (61 s): rejected, and closes p1
    s.vote(50, "erin", "p1", "b")  # in time, but appended after p1 closed
    s.say(65, "bob", "m5", "allow")
    s.tip("TipIntentCreated", 64, "t4", 300, "EUR")
    s.tip("TipCaptured", 66, "t4", 300, "EUR")
    s.tip("TipIntentCreated", 67, "t5", 100, "EUR")
    s.tip("TipCaptured", 67.5, "t5", 100_000_000, "EUR")  # unlike its intent: never counted
    s.add("reactions.ReactionSent", 68, "dave", kind="clap", count=4)
    s.say(70, "alice", "m3", "block")
    s.presence("Left", 70, "dave", "s5")
    s.tip("TipRefunded", 80, "t1", 200, "EUR")
    s.tip("TipRefunded", 81, "t1", 400, "EUR")  # more than the 300 left: refused
    s.tip("TipRefunded", 82, "t4", 300, "EUR")
    s.presence("Left", 90, "alice", "s4")
    s.presence("Left", 100, "alice", "s1")
    s.add("stream.Ended", 110, s.host, reason="streamer_ended", duration_ms=None)
    return s.events
