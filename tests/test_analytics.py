"""Analytics in ClickHouse through the real sink process: each query of docs/analytics.md
returns what the events imply, and rows show up fast."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from clickhouse_connect.driver import Client

from agents.analytics import GROUP
from agents.analytics_schema import drop_schema, ensure_schema, summary, table_name
from livefold import audience, polls, tips
from livefold.analytics_store import clickhouse_client
from livefold.folding import fold_all
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import Event, new_event
from streams.producer import EventProducer
from tests.analytics_support import (
    Sink,
    documented_queries,
    known_session,
    run,
    wait_caught_up,
    wait_for_rows,
)

MINUTE_0, MINUTE_1 = datetime(2026, 5, 1, 18, 0), datetime(2026, 5, 1, 18, 1)


@pytest.fixture(scope="module")
def sink(stack: Settings) -> Iterator[Sink]:
    running = Sink(stack)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(stack: Settings) -> Iterator[Client]:
    client = clickhouse_client(stack)
    yield client
    client.close()


@pytest.fixture(scope="module")
def producer(stack: Settings) -> Iterator[EventProducer]:
    producer = EventProducer(stack, Codec.from_settings(stack))
    yield producer
    producer.close()


@pytest.fixture(scope="module")
def known(
    stack: Settings, sink: Sink, producer: EventProducer, client: Client
) -> tuple[str, list[Event]]:
    stream_id = f"known-{uuid.uuid4().hex[:8]}"
    events = known_session(stream_id)
    producer.append_all(events)
    wait_for_rows(client, stream_id, len({event.event_id for event in events}))
    # Views are written just after the events they derive from: wait for the whole insert.
    wait_caught_up(stack, GROUP)
    return stream_id, events


def test_the_documentation_holds_the_analyst_queries() -> None:
    assert sorted(documented_queries()) == [
        "audience",
        "engagement_per_minute",
        "poll_results",
        "quiz_answers",
        "retention_by_minute",
        "streams",
        "tips_per_currency",
        "top_chatters",
        "users",
        "watching_now",
    ]


def test_per_minute_engagement_counts_each_interaction_once(
    client: Client, known: tuple[str, list[Event]]
) -> None:
    stream_id, _ = known
    rows = [
        (minute.replace(tzinfo=None), *rest)
        for minute, *rest in run(client, "engagement_per_minute", stream_id=stream_id)
    ]
    # minute, messages, chatters, reactions, ballots, tips, viewers (tips as sent: t4 and the
    # capture of t5 unlike its intent, which query 4 and the ledger leave out)
    assert rows == [(MINUTE_0, 4, 3, 17, 9, 2, 4), (MINUTE_1, 2, 2, 4, 1, 2, 2)]


def test_top_chatters_show_how_much_of_their_chat_was_blocked(
    client: Client, known: tuple[str, list[Event]]
) -> None:
    stream_id, _ = known
    assert run(client, "top_chatters", stream_id=stream_id) == [
        ("alice", 3, 1, 0, 2),  # sent, blocked, deleted, shown
        ("bob", 2, 0, 0, 2),  # m4 was held, then a moderator allowed it
        ("carol", 1, 1, 0, 0),
    ]


def test_poll_results_follow_the_polls_fold(client: Client, known: tuple[str, list[Event]]) -> None:
    stream_id, events = known
    results = run(client, "poll_results", stream_id=stream_id)
    assert results == [
        ("p1", "a", 0, 3, 0.0),
        ("p1", "b", 2, 3, 66.7),
        ("p1", "c", 1, 3, 33.3),
        ("p2", "x", 2, 2, 100.0),
        ("p2", "y", 1, 2, 50.0),
    ]
    folded, _ = fold_all(polls, events)
    by_fold = [
        (state["poll_id"], option["option_id"], option["votes"], view["voters"], option["percent"])
        for state in sorted(folded.values(), key=lambda state: state["poll_id"])
        for view in [polls.view(state)]
        for option in view["options"]
    ]
    assert results == by_fold


def test_tips_per_currency_follow_the_ledger(
    client: Client, known: tuple[str, list[Event]]
) -> None:
    stream_id, events = known
    rows = [row for row in run(client, "tips_per_currency") if row[0] == stream_id]
    # currency, tips, captured, refunded, net (minor units)
    assert [row[1:] for row in rows] == [("EUR", 2, 800, 500, 300), ("USD", 1, 1000, 0, 1000)]
    ledger = tips.view(fold_all(tips, events)[0][stream_id])["totals"]
    assert {row[1]: [row[2], row[3], row[4], row[5]] for row in rows} == {
        currency: [t["tips"], t["captured"], t["refunded"], t["net"]]
        for currency, t in ledger.items()
    }


def test_audience_peak_and_device_mix_follow_the_audience_fold(
    client: Client, known: tuple[str, list[Event]]
) -> None:
    stream_id, events = known
    [(peak, sessions, unique, devices)] = run(client, "audience", stream_id=stream_id)
    assert (peak, sessions, unique, devices) == (3, 5, 4, {"phone": 2, "desktop": 2, "tablet": 1})
    folded = audience.view(fold_all(audience, events)[0][stream_id])
    assert (peak, sessions, unique, devices) == (
        folded["peak_viewers"],
        folded["sessions"],
        folded["unique_viewers"],
        folded["devices"],
    )
    [(now, average_watch_ms)] = run(client, "watching_now", stream_id=stream_id)
    assert now == 0  # a session of 2026 is not watching any more
    assert average_watch_ms == folded["watch_ms"] // folded["sessions"]


def test_an_event_shows_up_as_a_row_within_two_seconds(
    sink: Sink, producer: EventProducer, client: Client
) -> None:
    stream_id = f"fast-{uuid.uuid4().hex[:8]}"
    reaction = new_event(
        "livefold.reactions.ReactionSent", stream_id=stream_id, actor_id="v", kind="fire", count=3
    )
    sent = time.monotonic()
    producer.append(reaction).result(10)
    wait_for_rows(client, stream_id, 1, timeout=10)
    assert time.monotonic() - sent < 2.0


def test_a_derived_table_missing_or_of_an_older_definition_is_rebuilt_from_events(
    stack: Settings, client: Client, known: tuple[str, list[Event]]
) -> None:
    stream_id, _ = known
    database, prefix = stack.clickhouse_database, f"upgrade_{uuid.uuid4().hex[:6]}_"
    assert ensure_schema(client, database, prefix) == []  # a fresh set: nothing to rebuild
    try:
        client.command(
            f"INSERT INTO {table_name(database, prefix, 'events')} SELECT * FROM events"
            " WHERE stream_id = {stream_id:String}",
            parameters={"stream_id": stream_id},
        )
        before = summary(client, database, prefix)
        sessions = table_name(database, prefix, "viewer_sessions")
        client.command(f"ALTER TABLE {sessions} MODIFY COMMENT 'definition 0000'")
        client.command(f"DROP VIEW {table_name(database, prefix, 'tips_from_events')}")
        client.command(f"DROP TABLE {table_name(database, prefix, 'tips')}")
        assert ensure_schema(client, database, prefix) == ["tips", "viewer_sessions"]
        assert summary(client, database, prefix) == before
        assert ensure_schema(client, database, prefix) == []
    finally:
        drop_schema(client, database, prefix)
