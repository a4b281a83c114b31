"""The analyst tables beyond the events: chat sent and shown (deletions, blocks, holds), quiz
answers scored as the quiz fold scores them, streams with their lifecycle, users as a
pseudonymous dimension with their current roles, and retention by minute; each through the
real sink and the queries of docs/analytics.md exactly as written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from clickhouse_connect.driver import Client

from agents.analytics import GROUP
from livefold import quizzes
from livefold.analytics_store import clickhouse_client
from livefold.folding import fold_all
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import Event
from streams.producer import EventProducer
from tests.analytics_support import (
    T0,
    Script,
    Sink,
    documented_queries,
    run,
    wait_caught_up,
    wait_for_rows,
)


def stream_session(stream_id: str) -> list[Event]:
    s = Script(stream_id)
    s.add("stream.Created", 0, s.host, title="First", category="games", tags=["a"],
          scheduled_start=None, language="en")  # fmt: skip
    s.add("stream.SettingsChanged", 5, s.host, title="Second", category=None, tags=["a", "b"],
          language=None, chat_modes=None, reactions_enabled=None)  # fmt: skip
    s.add("stream.WentLive", 10, s.host, ingest_id=None)
    s.say(20, "ann", "m1", "allow")
    s.say(21, "ann", "m2", "block")
    s.say(22, "bob", "m3", "allow")
    s.say(23, "ann", "m4", "hold")  # never approved: not shown
    s.add("chat.MessageDeleted", 30, s.host, message_id="m3", reason="moderator")
    options = [{"option_id": "a", "text": "A"}, {"option_id": "b", "text": "B"}]
    s.add("quiz.QuizQuestionPosed", 40, s.host, quiz_id="qz", question_id="q1", question="?",
          options=options, correct_option="a", points=100, time_limit_seconds=10)  # fmt: skip

    def answer(seconds: float, player: str, option: str) -> None:
        s.add("quiz.QuizAnswerSubmitted", seconds, player, quiz_id="qz", question_id="q1",
              option_id=option)  # fmt: skip

    answer(42, "ann", "a")  # 2 s: 100 points and a bonus of 50 % of 8/10 of them
    answer(43, "ann", "b")  # a second answer: the first counts
    answer(41, "bob", "z")  # not an option: refused, so his next one counts
    answer(45, "bob", "b")  # wrong
    answer(51, "cy", "a")  # 11 s: too late
    answer(39, "dan", "a")  # stamped before the question
    s.add("quiz.QuizAnswerRevealed", 50, s.host, quiz_id="qz", question_id="q1",
          correct_option="a")  # fmt: skip
    answer(49, "eve", "a")  # in time, but appended after the reveal
    s.presence("Joined", 60, "ann", "s1", device="phone", country=None)
    s.presence("Joined", 70, "bob", "s2", device="phone", country=None)
    s.presence("Left", 125, "bob", "s2")
    s.presence("Left", 185, "ann", "s1")
    s.add("stream.Ended", 300, s.host, reason="streamer_ended", duration_ms=None)
    return s.events


def account_session(user_id: str) -> list[Event]:
    s = Script(user_id)
    s.add("accounts.AccountCreated", 0, "system", user_id=user_id, key_id="k1",
          encrypted_profile=b"\x01 sealed", encrypted_credentials=b"\x02 sealed")  # fmt: skip
    for seconds, kind, role, channel in [
        (1, "RoleGranted", "streamer", None),
        (2, "RoleGranted", "moderator", "chan-1"),
        (3, "RoleGranted", "moderator", "chan-2"),
        (4, "RoleRevoked", "moderator", "chan-1"),
    ]:
        s.add(f"accounts.{kind}", seconds, "admin", user_id=user_id, role=role, channel_id=channel)
    return s.events


@pytest.fixture(scope="module")
def client(stack: Settings) -> Iterator[Client]:
    client = clickhouse_client(stack)
    yield client
    client.close()


@pytest.fixture(scope="module")
def stored(stack: Settings, client: Client) -> Iterator[tuple[str, list[Event], str, str]]:
    stream_id = f"tables-{uuid.uuid4().hex[:8]}"
    kept, gone = f"user-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    events = stream_session(stream_id)
    accounts = account_session(kept) + account_session(gone)
    deletion = Script(gone).add("accounts.AccountDeleted", 9, gone, user_id=gone, key_id="k1",
                                reason="user_request")  # fmt: skip
    sink = Sink(stack)
    sink.start()
    producer = EventProducer(stack, Codec.from_settings(stack))
    try:
        producer.append_all([*events, *accounts, deletion])
        wait_for_rows(client, stream_id, len(events))
        wait_caught_up(stack, GROUP)
        yield stream_id, events, kept, gone
    finally:
        producer.close()
        sink.stop()


def test_top_chatters_tells_sent_blocked_deleted_and_shown(
    client: Client, stored: tuple[str, list[Event], str, str]
) -> None:
    stream_id = stored[0]
    rows = run(client, "top_chatters", stream_id=stream_id)
    # chatter, sent, blocked, deleted, shown
    assert rows == [("ann", 3, 1, 0, 1), ("bob", 1, 0, 1, 0)]


def test_quiz_answers_are_counted_and_scored_as_the_quiz_fold_does(
    client: Client, stored: tuple[str, list[Event], str, str]
) -> None:
    stream_id, events, _, _ = stored
    rows = run(client, "quiz_answers", stream_id=stream_id)
    assert rows == [
        ("qz", "q1", "ann", "a", 2000, 1, 1, 140),
        ("qz", "q1", "bob", "b", 5000, 1, 0, 0),
    ]
    state = fold_all(quizzes, events)[0][stream_id]
    scores = state["quizzes"]["qz"]["scores"]
    assert {player: score["points"] for player, score in scores.items()} == {
        "ann": 140,
        "bob": 0,
    }


def test_a_stream_row_has_its_latest_settings_and_lifecycle(
    client: Client, stored: tuple[str, list[Event], str, str]
) -> None:
    stream_id = stored[0]
    [row] = run(client, "streams", stream_id=stream_id)
    assert row[:5] == (stream_id, f"{stream_id}-host", "Second", "games", ["a", "b"])
    moments = [moment.replace(tzinfo=UTC) - T0 for moment in row[5:8]]
    assert [moment.total_seconds() for moment in moments] == [0, 10, 300]
    assert row[8:] == ("streamer_ended", 290)


def test_users_are_pseudonymous_with_their_current_roles_and_deletion(
    client: Client, stored: tuple[str, list[Event], str, str]
) -> None:
    _, _, kept, gone = stored
    answer = client.query(documented_queries()["users"], {"user_ids": [kept, gone]})
    rows: dict[str, tuple[Any, ...]] = {row[0]: tuple(row) for row in answer.result_rows}
    assert rows[kept][2] is None and rows[gone][2] is not None
    assert rows[kept][3] == rows[gone][3] == ["moderator:chan-2", "streamer"]
    columns = client.query(
        "SELECT name FROM system.columns WHERE table = 'users' AND database = currentDatabase()"
    ).result_rows
    assert sorted(name for (name,) in columns) == ["created_at", "deleted_at", "user_id"]


def test_retention_by_minute_counts_viewers_watching_in_each_minute(
    client: Client, stored: tuple[str, list[Event], str, str]
) -> None:
    stream_id = stored[0]
    rows = run(client, "retention_by_minute", stream_id=stream_id)
    # ann 18:01:00-18:03:05, bob 18:01:10-18:02:05
    assert [(minute.minute, viewers, share) for minute, viewers, share in rows] == [
        (1, 2, 100.0),
        (2, 2, 100.0),
        (3, 1, 50.0),
    ]
