"""A fold worker process (`python -m agents worker`) turns events produced through the backbone
into state records on the state topics: poll tallies, reaction counts, tip ledgers, and chat
lines only once moderation allowed them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from confluent_kafka import Consumer, TopicPartition

from agents.app import changelog_topic
from agents.folds import source_topics
from agents.inspect import caught_up, live_states
from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, event_topic
from streams.codec import Codec
from streams.producer import EventProducer
from tests.fold_workers import StateReader, event, group_settings, workers

POLL_OPTIONS = [{"option_id": o, "text": o.upper()} for o in ("a", "b", "c")]


@pytest.fixture(scope="module")
def folding(stack: Settings) -> Iterator[Settings]:
    """One fold worker, in a group of this module's own."""
    settings = group_settings(stack, "behaviour")
    with workers(settings, 1):
        yield settings


@pytest.fixture(scope="module")
def producer(folding: Settings) -> Iterator[EventProducer]:
    producer = EventProducer(folding, Codec.from_settings(folding))
    yield producer
    producer.close()


@pytest.fixture
def states(folding: Settings) -> Iterator[StateReader]:
    with StateReader(folding) as reader:
        yield reader


def stream_id() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def poll(stream: str, producer: EventProducer, *, change: bool = True) -> None:
    producer.append_all(
        [
            event(
                "livefold.polls.PollCreated",
                stream,
                "host",
                poll_id="p1",
                question="Next map?",
                options=POLL_OPTIONS,
                multi_select=False,
                allow_vote_change=change,
                duration_seconds=600,
            ),
            event("livefold.polls.PollOpened", stream, "host", poll_id="p1", closes_at=None),
        ]
    )


def vote(stream: str, voter: str, option: str) -> Any:
    return event("livefold.polls.VoteCast", stream, voter, poll_id="p1", option_ids=[option])


def tally(view: dict[str, Any] | None) -> dict[str, int]:
    return {o["option_id"]: o["votes"] for o in (view or {}).get("options", [])}


def test_votes_show_up_as_a_poll_tally(producer: EventProducer, states: StateReader) -> None:
    stream = stream_id()
    poll(stream, producer)
    producer.append_all(
        [vote(stream, "ann", "a"), vote(stream, "bob", "a"), vote(stream, "cy", "b")]
    )
    key = f"{stream}/p1"
    view = states.wait_for(
        lambda: (v := states.latest("polls", key)) and v["voters"] == 3 and v, description="tally"
    )
    assert tally(view) == {"a": 2, "b": 1, "c": 0}
    assert view["status"] == "open"
    assert [o["percent"] for o in view["options"]] == [66.7, 33.3, 0.0]


def test_a_re_vote_replaces_the_earlier_choice(
    producer: EventProducer, states: StateReader
) -> None:
    stream = stream_id()
    poll(stream, producer)
    producer.append_all([vote(stream, "ann", "a")])
    key = f"{stream}/p1"
    states.wait_for(lambda: tally(states.latest("polls", key)) == {"a": 1, "b": 0, "c": 0})
    producer.append_all([vote(stream, "ann", "c")])
    view = states.wait_for(
        lambda: (
            tally(states.latest("polls", key)) == {"a": 0, "b": 0, "c": 1}
            and states.latest("polls", key)
        )
    )
    assert view["voters"] == 1


def test_a_vote_after_the_close_is_rejected_with_a_reason(
    producer: EventProducer, states: StateReader
) -> None:
    stream = stream_id()
    poll(stream, producer)
    closed = event(
        "livefold.polls.PollClosed", stream, "host", poll_id="p1", reason="closed_by_host"
    )
    late = vote(stream, "dan", "b")
    producer.append_all([vote(stream, "ann", "a"), closed, late])
    key = f"{stream}/p1"
    rejected = states.wait_for(lambda: states.of("polls", key, "rejected"), description="rejection")
    assert rejected[-1].value["event_id"] == late.event_id
    assert rejected[-1].value["reason"] == "the poll is closed"
    final = states.latest("polls", key)
    assert final is not None and final["status"] == "closed"
    assert tally(final) == {"a": 1, "b": 0, "c": 0}


def test_reactions_are_counted_per_kind(producer: EventProducer, states: StateReader) -> None:
    stream = stream_id()
    producer.append_all(
        [
            event("livefold.reactions.ReactionSent", stream, f"v{n}", kind=kind, count=count)
            for n, (kind, count) in enumerate([("fire", 3), ("heart", 1), ("fire", 2)])
        ]
    )
    view = states.wait_for(
        lambda: (v := states.latest("reactions", stream)) and v["total"] == 6 and v,
        description="reaction totals",
    )
    assert view["totals"] == {"fire": 5, "heart": 1}


def test_a_captured_tip_reaches_the_ledger_once(
    producer: EventProducer, states: StateReader
) -> None:
    stream = stream_id()
    tip: dict[str, Any] = {
        "tip_id": "t1",
        "idempotency_key": "k1",
        "amount_minor": 500,
        "currency": "EUR",
    }
    captured = event("livefold.tips.TipCaptured", stream, "system", provider_reference=None, **tip)
    again = event("livefold.tips.TipCaptured", stream, "system", provider_reference=None, **tip)
    producer.append_all(
        [
            event("livefold.tips.TipIntentCreated", stream, "ann", message="gg", **tip),
            captured,
            again,  # a retried webhook: same idempotency key, new event
            captured,  # the same event appended twice
        ]
    )
    alert = states.wait_for(lambda: states.of("tips", stream, "notice"), description="tip alert")
    rejected = states.wait_for(lambda: states.of("tips", stream, "rejected"), description="refusal")
    assert [m.value["event_id"] for m in rejected] == [again.event_id]
    assert len(alert) == 1
    ledger = states.wait_for(
        lambda: (v := states.latest("tips", stream)) and "EUR" in v["totals"] and v,
        description="ledger",
    )
    assert ledger["totals"]["EUR"] == {"captured": 500, "refunded": 0, "tips": 1, "net": 500}
    assert ledger["top_supporters"]["EUR"] == [{"supporter": "ann", "amount_minor": 500}]


def test_a_blocked_term_never_reaches_chat_while_a_clean_message_does(
    folding: Settings, producer: EventProducer, states: StateReader
) -> None:
    stream = stream_id()
    producer.append_all(
        [
            event(
                "livefold.stream.Created",
                stream,
                "host",
                title="Speedrun",
                category="games",
                tags=[],
                scheduled_start=None,
                language="en",
            )
        ]
    )
    # Stream and moderation events travel on different topics: a streamer's action counts
    # once the stream is known to be theirs.
    states.wait_for(lambda: states.of("moderation", f"{stream}/staff"), description="staff")
    producer.append_all(
        [event("livefold.moderation.TermBlocked", stream, "host", term="zorblax", match="word")]
    )
    states.wait_for(lambda: states.of("modlog", stream), description="mod log entry")
    messages = [
        event("livefold.chat.MessageSent", stream, "ann", message_id=f"{stream}-{n}", text=text)
        for n, text in enumerate(["hello everyone", "you are a ZORBLAX", "nice run"])
    ]
    producer.append_all(messages)
    shown = states.wait_for(
        lambda: (
            len(states.of("chat", stream, "notice")) >= 2 and states.of("chat", stream, "notice")
        ),
        description="chat lines",
    )
    assert [m.value["text"] for m in shown] == ["hello everyone", "nice run"]
    chat = states.wait_for(
        lambda: (v := states.latest("chat", stream)) and v["published"] == 2 and v,
        description="chat view",
    )
    assert [m["text"] for m in chat["messages"]] == ["hello everyone", "nice run"]
    verdicts = verdicts_of(folding, stream, 3)
    assert verdicts == {f"{stream}-0": "allow", f"{stream}-1": "block", f"{stream}-2": "allow"}
    assert all("ZORBLAX" not in str(m.value) for m in states.of("chat", stream))


def test_a_verdict_coming_back_from_kafka_is_not_folded_again(
    folding: Settings, producer: EventProducer, states: StateReader
) -> None:
    """The worker appends the verdict it applied; reading it back changes no state, so the
    message's moderation and chat states reach their changelogs once, not once more for it."""
    stream = stream_id()
    message = event("livefold.chat.MessageSent", stream, "ann", message_id="m1", text="hello")
    producer.append_all([message])
    states.wait_for(lambda: states.of("chat", stream, "notice"), description="chat line")
    assert verdicts_of(folding, stream, 1) == {"m1": "allow"}
    deadline = time.monotonic() + 60
    while not caught_up(folding, source_topics()):  # the verdict came back and was acked
        assert time.monotonic() < deadline, "the worker did not get past the verdict"
        time.sleep(0.2)
    assert changelog_writes(folding, "moderation", stream) == 1
    assert changelog_writes(folding, "chat", stream) == 1


def test_an_undecodable_record_is_dead_lettered_and_folding_goes_on(
    folding: Settings, producer: EventProducer, states: StateReader
) -> None:
    stream = stream_id()
    producer.append_raw(event_topic("reactions"), stream, b"\x07garbage").result(30)
    producer.append_all(
        [event("livefold.reactions.ReactionSent", stream, "ann", kind="wow", count=1)]
    )
    states.wait_for(lambda: states.latest("reactions", stream), description="reaction")
    headers = dead_letter_of(folding, stream)
    assert headers["livefold.source.topic"] == event_topic("reactions")
    assert "wrong magic byte 0x07" in headers["livefold.reason"]


def test_live_states_are_the_tables_the_worker_wrote(
    folding: Settings, producer: EventProducer, states: StateReader
) -> None:
    stream = stream_id()
    poll(stream, producer)
    producer.append_all([vote(stream, "ann", "b")])
    states.wait_for(lambda: tally(states.latest("polls", f"{stream}/p1")).get("b") == 1)
    tables = states.wait_for(
        lambda: (t := live_states(folding)) and f"{stream}/p1" in t["polls"] and t,
        description="changelog state",
    )
    assert tables["polls"][f"{stream}/p1"]["votes"] == {"ann": ["b"]}


def verdicts_of(settings: Settings, stream: str, count: int) -> dict[str, str]:
    """The verdicts on the stream's messages in the moderation topic, once there are `count`."""
    codec = Codec.from_settings(settings)
    consumer = _consumer(settings, event_topic("moderation"))
    found: dict[str, str] = {}
    try:
        for _ in range(30):
            for message in consumer.consume(500, 1.0):
                if message.error() is None and message.key() == stream.encode():
                    decoded = codec.decode(message.value() or b"")
                    if decoded.type == "livefold.moderation.VerdictIssued":
                        found[decoded.body["message_id"]] = decoded.body["verdict"]
            if len(found) >= count:
                break
        return found
    finally:
        consumer.close()


def changelog_writes(settings: Settings, table: str, key: str) -> int:
    """How many records the table's changelog holds for the key (read to its end)."""
    consumer = _consumer(settings, changelog_topic(settings, table))
    try:
        ends = {
            tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1]
            for tp in consumer.assignment()
        }
        left = {partition for partition, end in ends.items() if end > 0}
        writes = 0
        while left:
            for record in consumer.consume(500, 1.0):
                if record.error() is not None:
                    continue
                writes += record.key() == key.encode()
                if record.offset() + 1 >= ends[record.partition()]:
                    left.discard(record.partition())
        return writes
    finally:
        consumer.close()


def dead_letter_of(settings: Settings, stream: str) -> dict[str, str]:
    consumer = _consumer(settings, DEADLETTER_TOPIC)
    try:
        while True:
            for message in consumer.consume(100, 1.0):
                if message.error() is None and message.key() == stream.encode():
                    headers = cast(list[tuple[str, bytes]], message.headers() or [])
                    return {name: value.decode() for name, value in headers}
    finally:
        consumer.close()


def _consumer(settings: Settings, topic: str) -> Consumer:
    consumer = Consumer(
        {
            **settings.kafka_config(),
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    return consumer
