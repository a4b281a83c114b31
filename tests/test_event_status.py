"""`GET /api/v1/events/{event_id}`: an HTTP client learns what became of its write after the
202, on any gateway: applied once the folds took it, rejected with the fold's reason, and
nobody but its author may ask. With `Prefer: wait` the write's answer waits for that outcome.
Refusals are also events (`EventRefused`), so analysts find them in ClickHouse's
`fold_refusals`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from livefold_sdk import Livefold

from livefold.analytics_store import clickhouse_client
from livefold.settings import Settings
from tests.analytics_support import Sink
from tests.gateways import (
    STREAMER,
    VIEWER,
    Pair,
    Running,
    Tokens,
    eventually,
    gateway,
)


@pytest.fixture(scope="module")
def pair(folded: Settings) -> Iterator[Pair]:
    sink = Sink(folded)
    sink.start()
    try:
        with (
            gateway(folded, "gateway-status-a") as a,
            gateway(folded, "gateway-status-b") as b,
        ):
            yield Pair(a, b, Tokens(folded))
    finally:
        sink.stop()


def status(pair: Pair, running: Running, event_id: str, user: str = VIEWER) -> Any:
    answer = httpx.get(f"{running.url}/api/v1/events/{event_id}", headers=pair.tokens.headers(user))
    return answer.json() if answer.status_code == 200 else answer.status_code


def test_a_write_is_pending_then_applied_and_a_refused_one_rejected_with_the_reason(
    pair: Pair,
) -> None:
    stream_id = pair.stream()
    said = pair.post(pair.a, f"/streams/{stream_id}/chat", VIEWER, {"text": "hello"})
    first = status(pair, pair.a, said["event_id"])
    assert first["status"] in ("pending", "applied")
    applied = eventually(
        lambda: (s := status(pair, pair.a, said["event_id"]))["status"] == "applied" and s
    )
    assert applied == {"event_id": said["event_id"], "status": "applied",
                       "event_type": "livefold.chat.MessageSent", "reason": None}  # fmt: skip

    poll = {"question": "Next?", "options": [{"option_id": "a", "text": "A"},
            {"option_id": "b", "text": "B"}], "duration_seconds": 600}  # fmt: skip
    poll_id = pair.post(pair.a, f"/streams/{stream_id}/polls", STREAMER, poll)["poll_id"]
    pair.post(pair.a, f"/streams/{stream_id}/polls/{poll_id}/open", STREAMER)
    pair.post(pair.a, f"/streams/{stream_id}/polls/{poll_id}/close", STREAMER)
    vote = pair.post(pair.a, f"/streams/{stream_id}/polls/{poll_id}/votes", VIEWER,
                     {"option_ids": ["a"]})  # fmt: skip
    for running in (pair.a, pair.b):  # the other gateway heard the rejection too
        rejected = eventually(lambda r=running: (s := status(pair, r, vote["event_id"])) != 404
                              and s["status"] == "rejected" and s)  # fmt: skip
        assert rejected["event_type"] == "livefold.polls.VoteCast"
        assert "closed" in rejected["reason"]
    assert status(pair, pair.a, vote["event_id"], user="viewer-someone-else") == 404
    client = clickhouse_client(pair.a.settings)
    try:
        rows = eventually(
            lambda: (
                client.query(
                    "SELECT refused_type, fold, actor_id, reason FROM fold_refusals FINAL"
                    " WHERE refused_event_id = {id:String}",
                    parameters={"id": vote["event_id"]},
                ).result_rows
            )
        )
    finally:
        client.close()
    ((refused_type, fold, actor, reason),) = rows
    assert (refused_type, fold, actor) == ("livefold.polls.VoteCast", "polls", VIEWER)
    assert "closed" in reason
    elsewhere = eventually(lambda: (s := status(pair, pair.b, said["event_id"])) != 404 and s)
    assert elsewhere == applied  # the other gateway knows it applied, from the folds' outcomes


def test_the_python_sdk_asks_what_became_of_a_write(pair: Pair) -> None:
    stream_id = pair.stream()
    with Livefold(pair.a.url, auth=pair.tokens.token(VIEWER)) as client:
        accepted = client.send_chat(stream_id, "from the sdk")
        applied = eventually(
            lambda: (s := client.event_status(accepted["event_id"]))["status"] == "applied" and s
        )
        assert applied["event_type"] == "livefold.chat.MessageSent"


def test_a_write_preferring_to_wait_is_answered_with_its_outcome(pair: Pair) -> None:
    stream_id = pair.stream()
    headers = {**pair.tokens.headers(VIEWER), "Prefer": "wait=10"}
    said = httpx.post(
        f"{pair.b.url}/api/v1/streams/{stream_id}/chat", json={"text": "hi"}, headers=headers
    )
    assert said.status_code == 200, said.text
    assert said.headers["Preference-Applied"] == "wait=10"
    body = said.json()
    assert body["status"] == "applied" and body["event_type"] == "livefold.chat.MessageSent"
    assert body["message_id"] and body["reason"] is None

    poll = {"question": "Now?", "options": [{"option_id": "a", "text": "A"},
            {"option_id": "b", "text": "B"}], "duration_seconds": 600}  # fmt: skip
    poll_id = pair.post(pair.a, f"/streams/{stream_id}/polls", STREAMER, poll)["poll_id"]
    pair.post(pair.a, f"/streams/{stream_id}/polls/{poll_id}/open", STREAMER)
    vote = f"{pair.b.url}/api/v1/streams/{stream_id}/polls/{poll_id}/votes"
    refused = httpx.post(
        vote,
        json={"option_ids": ["zzz"]},
        headers={**pair.tokens.headers(VIEWER), "Prefer": "respond-async, wait=applied"},
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "rejected" and "zzz" in refused.json()["reason"]
    bad = httpx.post(vote, json={"option_ids": ["a"]},
                     headers={**pair.tokens.headers(VIEWER), "Prefer": "wait=soon"})  # fmt: skip
    assert bad.status_code == 400 and "wait" in bad.text


def test_the_python_sdk_waits_for_a_write_to_be_applied_on_another_gateway(pair: Pair) -> None:
    stream_id = pair.stream()
    with Livefold(pair.b.url, auth=pair.tokens.token(VIEWER)) as client:
        outcome = client.waiting(10).send_chat(stream_id, "waited for")
        assert outcome["status"] == "applied"
        assert client.send_chat(stream_id, "not waited for").keys() >= {"event_id"}
    with Livefold(pair.a.url, auth=pair.tokens.token(VIEWER)) as client:
        assert client.event_status(outcome["event_id"])["status"] == "applied"
