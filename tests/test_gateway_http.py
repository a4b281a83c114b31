"""The gateway's HTTP API through real gateway processes, Kafka and the real folds (the real fold
worker publishing to the state topics): writes land in the log once Kafka acknowledged,
validation names fields, auth and per-stream rights, idempotency across two gateways, reads."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec, DecodeError
from tests.gateways import (
    Running,
    Tokens,
    connect,
    eventually,
    gateway,
    metrics_of,
    recorded,
    subscribe,
)

STREAMER, OTHER_STREAMER, VIEWER, MOD = "streamer-ada", "streamer-bo", "viewer-cy", "mod-dee"


class Api:
    def __init__(self, running: Running, tokens: Tokens):
        self.settings = running.settings
        self.url = running.url
        self.tokens = tokens
        self.http = httpx.Client(base_url=running.url + "/api/v1", timeout=10)

    def call(self, method: str, path: str, user: str | None = None, **options: Any) -> Any:
        headers = dict(options.pop("headers", {}))
        if user is not None:
            roles = {"streamer"} if user.startswith("streamer") else {"viewer"}
            headers.update(self.tokens.headers(user, roles))
        return self.http.request(method, path, headers=headers, **options)


@pytest.fixture(scope="module")
def gateways(folded: Settings) -> Iterator[tuple[Api, Api]]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 200.0})
    tokens = Tokens(settings)
    with gateway(settings) as a, gateway(settings, "gateway-b") as b:
        yield Api(a, tokens), Api(b, tokens)


@pytest.fixture(scope="module")
def api(gateways: tuple[Api, Api]) -> Api:
    return gateways[0]


def new_stream(api: Api, owner: str = STREAMER, **fields: Any) -> str:
    body = {"title": "Speedrun any%", "category": "Games", "tags": ["speedrun"], **fields}
    answer = api.call("POST", "/streams", owner, json=body)
    assert answer.status_code == 202, answer.text
    stream_id = str(answer.json()["stream_id"])
    eventually(lambda: api.call("GET", f"/streams/{stream_id}").status_code == 200)
    return stream_id


def events_in_log(settings: Settings, domain: str, event_id: str) -> list[Any]:
    codec = Codec.from_settings(settings)
    consumer = Consumer({**settings.kafka_config(), "group.id": "t"})
    topic = event_topic(domain)
    found = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            while True:
                message = consumer.poll(5)
                assert message is not None and message.error() is None
                try:
                    event = codec.decode(message.value() or b"")
                except DecodeError:  # another test's deliberately garbled record
                    event = None
                if event is not None and event.event_id == event_id:
                    found.append(event)
                if (message.offset() or 0) >= high - 1:
                    break
    finally:
        consumer.close()
    return found


def test_an_accepted_write_is_in_the_log_with_the_callers_identity(api: Api) -> None:
    stream_id = new_stream(api)
    answer = api.call("POST", f"/streams/{stream_id}/chat", VIEWER, json={"text": "hello all"})
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]
    assert answer.json()["message_id"] == event_id
    (event,) = events_in_log(api.settings, "chat", event_id)
    assert event.type == "livefold.chat.MessageSent"
    assert (event.actor_id, event.stream_id, event.body["text"]) == (VIEWER, stream_id, "hello all")


def test_invalid_bodies_are_refused_with_each_field_and_its_reason(api: Api) -> None:
    stream_id = new_stream(api)
    chat = f"/streams/{stream_id}/chat"

    def refusal(**options: Any) -> dict[str, str]:
        answer = api.call("POST", chat, VIEWER, **options)
        assert answer.status_code == 422, answer.text
        return {f["field"]: f["reason"] for f in answer.json()["fields"]}

    assert "must be 1..500" in refusal(json={"text": ""})["text"]
    assert "required field is missing" in refusal(json={})["text"]
    assert "expected string" in refusal(json={"text": 42})["text"]
    assert "not a field" in refusal(json={"text": "hi", "colour": "red"})["colour"]
    assert "set by the gateway" in refusal(json={"text": "hi", "actor_id": MOD})["actor_id"]
    assert "not valid JSON" in refusal(content=b"{nope", headers={"content-type": "x"})["body"]
    assert "JSON object" in refusal(json=["text"])["body"]
    poll = api.call("POST", f"/streams/{stream_id}/polls", STREAMER, json={"question": "?"})
    assert {f["field"] for f in poll.json()["fields"]} == {"options", "duration_seconds"}


def test_no_token_an_expired_token_and_a_forged_token_are_refused_with_the_reason(
    api: Api, tmp_path: Any
) -> None:
    stream_id = new_stream(api)
    chat = f"/streams/{stream_id}/chat"
    anonymous = api.call("POST", chat, json={"text": "hi"})
    assert anonymous.status_code == 401 and "sign in" in anonymous.json()["reason"]
    expired = api.tokens.token(VIEWER, now=time.time() - 3600)
    answer = api.call("POST", chat, json={"text": "hi"}, headers=bearer(expired))
    assert answer.status_code == 401 and answer.json()["reason"] == "token expired"
    forger = Tokens(api.settings.model_copy(update={"data_dir": tmp_path}))
    answer = api.call("POST", chat, json={"text": "hi"}, headers=bearer(forger.token(VIEWER)))
    assert answer.status_code == 401 and "invalid token" in answer.json()["reason"]
    answer = api.call("POST", chat, json={"text": "hi"}, headers={"Authorization": "Basic x"})
    assert answer.status_code == 401 and "Bearer" in answer.json()["reason"]


def test_a_token_that_passed_is_refused_once_it_expires(api: Api) -> None:
    """The gateway remembers tokens whose signature passed; not past their `exp`."""
    stream_id = new_stream(api)
    short = api.tokens.token(VIEWER, ttl_seconds=2)
    first = api.call(
        "POST", f"/streams/{stream_id}/chat", json={"text": "hi"}, headers=bearer(short)
    )
    assert first.status_code == 202, first.text
    time.sleep(2.5)
    again = api.call(
        "POST", f"/streams/{stream_id}/chat", json={"text": "hi"}, headers=bearer(short)
    )
    assert again.status_code == 401 and again.json()["reason"] == "token expired"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_viewer_cannot_moderate_nor_run_the_stream(api: Api) -> None:
    stream_id = new_stream(api)
    refused = [
        ("POST", f"/streams/{stream_id}/moderation/bans", {"user_id": "troll"}),
        ("POST", f"/streams/{stream_id}/moderation/blocked-terms", {"term": "x", "match": "word"}),
        ("POST", f"/streams/{stream_id}/moderators", {"user_id": VIEWER}),
        ("POST", f"/streams/{stream_id}/live", {}),
        ("PATCH", f"/streams/{stream_id}", {"title": "mine now"}),
    ]
    for method, path, body in refused:
        answer = api.call(method, path, VIEWER, json=body)
        assert answer.status_code == 403, (path, answer.text)
    assert api.call("GET", f"/streams/{stream_id}/moderation/queue", VIEWER).status_code == 403
    assert (
        api.call("POST", "/streams", VIEWER, json={"title": "t", "category": "c"}).status_code
        == 403
    )


def test_a_moderator_of_one_stream_cannot_moderate_another(api: Api) -> None:
    mine, theirs = new_stream(api), new_stream(api, OTHER_STREAMER)
    appointed = api.call("POST", f"/streams/{mine}/moderators", STREAMER, json={"user_id": MOD})
    assert appointed.status_code == 202
    staff = f"/streams/{mine}/moderators"
    eventually(lambda: MOD in api.call("GET", staff, STREAMER).json()["moderators"])
    # Who moderates is public, as chat shows it in badges: any viewer, even signed out, reads it.
    for reader in (VIEWER, None):
        assert MOD in api.call("GET", staff, reader).json()["moderators"]
    ban = {"user_id": "troll-1", "reason": "spam"}
    assert api.call("POST", f"/streams/{mine}/moderation/bans", MOD, json=ban).status_code == 202
    assert api.call("POST", f"/streams/{theirs}/moderation/bans", MOD, json=ban).status_code == 403
    assert api.call("GET", f"/streams/{theirs}/moderation/log", MOD).status_code == 403

    def last_entry() -> Any:
        entries = api.call("GET", f"/streams/{mine}/moderation/log", MOD).json()["entries"]
        return entries[-1] if entries[-1]["action"] == "ban" else None

    assert {"target": "troll-1", "moderator": MOD, "reason": "spam"}.items() <= eventually(
        last_entry
    ).items()


def test_a_retried_request_never_makes_a_second_event_even_on_another_gateway(
    gateways: tuple[Api, Api],
) -> None:
    a, b = gateways
    stream_id = new_stream(a)
    # b learns of the stream from the folds as a does, maybe later: a write to a stream it
    # does not know yet is a 404, whatever the log holds.
    eventually(lambda: b.call("GET", f"/streams/{stream_id}").status_code == 200)
    key = {"Idempotency-Key": f"tip-{uuid.uuid4()}"}
    tip = {"amount_minor": 500, "currency": "EUR", "message": "gg"}
    first = a.call("POST", f"/streams/{stream_id}/tips", VIEWER, json=tip, headers=key)
    again = a.call("POST", f"/streams/{stream_id}/tips", VIEWER, json=tip, headers=key)
    elsewhere = b.call("POST", f"/streams/{stream_id}/tips", VIEWER, json=tip, headers=key)
    assert first.status_code == again.status_code == elsewhere.status_code == 202
    assert first.json() == again.json() == elsewhere.json()
    assert again.headers["Idempotent-Replay"] == elsewhere.headers["Idempotent-Replay"] == "true"
    assert "payment" in first.json()  # what the payment flow (gateway/payments.py) started
    different = {**tip, "amount_minor": 501}
    conflict = a.call("POST", f"/streams/{stream_id}/tips", VIEWER, json=different, headers=key)
    assert conflict.status_code == 409
    events = events_in_log(a.settings, "tips", first.json()["event_id"])
    assert len(events) == 1  # gateway b, which never saw the first attempt, found it in the log
    assert events[0].body["idempotency_key"] == key["Idempotency-Key"]


def test_a_write_sent_again_while_its_first_attempt_waits_for_kafka_is_logged_once(
    gateways: tuple[Api, Api],
) -> None:
    """A client that gave up waiting sends the same request again while the first is still
    being appended: the second waits for the first's outcome instead of appending again."""
    a, _ = gateways
    stream_id = new_stream(a)
    headers = a.tokens.headers(VIEWER, {"viewer"})

    async def sent_together(key: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=a.url + "/api/v1", timeout=10) as client:
            sends = [
                client.post(
                    f"/streams/{stream_id}/chat",
                    json={"text": "hello twice"},
                    headers={**headers, "Idempotency-Key": key},
                )
                for _ in range(2)
            ]
            return await asyncio.gather(*sends)

    for _ in range(5):
        answers = asyncio.run(sent_together(f"chat-{uuid.uuid4()}"))
        assert [answer.status_code for answer in answers] == [202, 202]
        assert answers[0].json() == answers[1].json()
        event_id = answers[0].json()["event_id"]
        assert len(events_in_log(a.settings, "chat", event_id)) == 1


def test_streams_are_browsed_by_status_and_found_by_title_category_and_tag(api: Api) -> None:
    marker = uuid.uuid4().hex[:8]
    live = new_stream(api, title=f"Cozy {marker} farming", category="Farming", tags=["chill"])
    later = new_stream(
        api, title=f"Later {marker}", scheduled_start=int(time.time() * 1000) + 9_000_000
    )
    assert api.call("POST", f"/streams/{live}/live", STREAMER).status_code == 202
    eventually(lambda: api.call("GET", f"/streams/{live}").json()["status"] == "live")
    found = api.call("GET", "/streams", params={"status": "live", "q": marker}).json()
    assert [s["stream_id"] for s in found["items"]] == [live]
    by_tag = api.call("GET", "/streams", params={"tag": "CHILL", "category": "farming"}).json()
    assert live in [s["stream_id"] for s in by_tag["items"]]
    upcoming = api.call("GET", "/streams", params={"status": "scheduled", "q": marker}).json()
    assert [s["stream_id"] for s in upcoming["items"]] == [later]
    bad = api.call("GET", "/streams", params={"status": "soon"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "status"
    assert api.call("GET", "/streams/nope").status_code == 404
    new_stream(api, OTHER_STREAMER, title=f"Not mine {marker}")
    mine = api.call("GET", "/streams", params={"streamer": STREAMER, "q": marker}).json()
    assert [s["stream_id"] for s in mine["items"]] == [live, later]  # every status, live first
    only = {"streamer": STREAMER, "q": marker, "status": "scheduled"}
    assert [s["stream_id"] for s in api.call("GET", "/streams", params=only).json()["items"]] == [
        later
    ]


def test_chat_history_pages_back_and_authors_or_moderators_delete(api: Api) -> None:
    stream_id = new_stream(api)
    chat = f"/streams/{stream_id}/chat"
    sent = [
        api.call("POST", chat, VIEWER, json={"text": f"line {n}"}).json()["message_id"]
        for n in range(7)
    ]
    eventually(lambda: len(api.call("GET", chat).json()["items"]) == 7)
    newest = api.call("GET", chat, params={"limit": 3}).json()
    assert [m["text"] for m in newest["items"]] == ["line 4", "line 5", "line 6"]
    older = api.call("GET", chat, params={"limit": 3, "cursor": newest["next_cursor"]}).json()
    assert [m["text"] for m in older["items"]] == ["line 1", "line 2", "line 3"]
    oldest = api.call("GET", chat, params={"limit": 3, "cursor": older["next_cursor"]}).json()
    assert [m["text"] for m in oldest["items"]] == ["line 0"] and oldest["next_cursor"] is None
    assert api.call("DELETE", f"{chat}/{sent[0]}", "viewer-other").status_code == 403
    assert api.call("DELETE", f"{chat}/{sent[0]}", VIEWER).status_code == 202
    assert api.call("POST", f"{chat}/{sent[1]}/pin", STREAMER, json={}).status_code == 202
    shown = eventually(lambda: (h := api.call("GET", chat).json())["pinned"] and h)
    assert shown["pinned"]["message_id"] == sent[1]
    assert sent[0] not in [m["message_id"] for m in shown["items"]]


def test_a_quiz_gets_a_generated_id_and_lists_as_views_like_polls(api: Api) -> None:
    stream_id = new_stream(api)
    base = f"/streams/{stream_id}"
    question = {"question": "2+2?", "options": [{"option_id": "x", "text": "4"},
                {"option_id": "y", "text": "5"}], "correct_option": "x", "points": 10,
                "time_limit_seconds": 30}  # fmt: skip
    started = api.call("POST", f"{base}/quizzes", STREAMER, json=question)
    assert started.status_code == 202, started.text
    quiz_id, question_id = started.json()["quiz_id"], started.json()["question_id"]
    assert quiz_id and question_id
    (listed,) = eventually(lambda: api.call("GET", f"{base}/quizzes").json()["items"])
    assert listed["kind"] == "question" and listed["correct_option"] is None
    assert (listed["quiz_id"], listed["question_id"]) == (quiz_id, question_id)
    questions = f"{base}/quizzes/{quiz_id}/questions/{question_id}"
    answer = api.call("POST", f"{questions}/answers", VIEWER, json={"option_id": "x"})
    assert answer.status_code == 202
    reveal = api.call("POST", f"{questions}/reveal", STREAMER, json={"correct_option": "x"})
    assert reveal.status_code == 202

    def shown() -> list[Any]:
        items: list[Any] = api.call("GET", f"{base}/quizzes").json()["items"]
        return items if {item["kind"] for item in items} == {"question", "leaderboard"} else []

    items = eventually(shown)
    assert all(item["quiz_id"] == quiz_id for item in items)  # players' ranks stay out
    assert api.call("POST", f"{base}/quizzes", VIEWER, json=question).status_code == 403


def test_polls_quizzes_reactions_tips_follows_and_clips_reach_their_state(api: Api) -> None:
    stream_id = new_stream(api)
    base = f"/streams/{stream_id}"
    poll = {"question": "Next boss?", "options": [{"option_id": "a", "text": "Margit"},
            {"option_id": "b", "text": "Godrick"}], "duration_seconds": 600}  # fmt: skip
    poll_id = api.call("POST", f"{base}/polls", STREAMER, json=poll).json()["poll_id"]
    assert api.call("POST", f"{base}/polls/{poll_id}/open", STREAMER, json={}).status_code == 202
    eventually(lambda: api.call("GET", f"{base}/polls/{poll_id}").json().get("status") == "open")
    vote = api.call("POST", f"{base}/polls/{poll_id}/votes", VIEWER, json={"option_ids": ["b"]})
    assert vote.status_code == 202
    eventually(lambda: api.call("GET", f"{base}/polls/{poll_id}").json().get("voters") == 1)
    question = {"question": "2+2?", "options": [{"option_id": "x", "text": "4"},
                {"option_id": "y", "text": "5"}], "correct_option": "x", "points": 10,
                "time_limit_seconds": 30}  # fmt: skip
    asked = api.call("POST", f"{base}/quizzes/q1/questions", STREAMER, json=question).json()
    questions = f"{base}/quizzes/q1/questions/{asked['question_id']}"
    eventually(lambda: api.call("GET", f"{base}/quizzes").json()["items"])
    answer = api.call("POST", f"{questions}/answers", VIEWER, json={"option_id": "x"})
    assert answer.status_code == 202
    reveal = api.call("POST", f"{questions}/reveal", STREAMER, json={"correct_option": "x"})
    assert reveal.status_code == 202
    board = eventually(lambda: api.call("GET", f"{base}/quizzes/q1", VIEWER).json().get("mine"))
    assert board["rank"] == 1 and board["points"] >= 10
    reaction = api.call("POST", f"{base}/reactions", VIEWER, json={"kind": "fire", "count": 3})
    assert reaction.status_code == 202
    eventually(lambda: api.call("GET", f"{base}/reactions").json().get("total") == 3)
    assert api.call("POST", f"{base}/reactions", VIEWER, json={"kind": "meh"}).status_code == 422
    assert api.call("PUT", f"{base}/follow", VIEWER).status_code == 202
    eventually(lambda: api.call("GET", base).json().get("stream_id"))
    recorded(api.settings, stream_id, api.url)
    clip = {"start_offset_ms": 1000, "end_offset_ms": 31000, "title": "the dodge"}
    clip_id = api.call("POST", f"{base}/clips", VIEWER, json=clip).json()["clip_id"]
    clips = eventually(lambda: api.call("GET", f"{base}/clips").json()["items"])
    assert clips[0]["clip_id"] == clip_id and clips[0]["by"] == VIEWER
    invite = api.call("POST", f"{base}/guests", STREAMER, json={"guest_id": VIEWER})
    assert invite.status_code == 202
    accepted = api.call("POST", f"{base}/guests/{invite.json()['invite_id']}/accept", VIEWER)
    assert accepted.status_code == 202


def test_openapi_metrics_cors_and_body_limit(api: Api) -> None:
    root = httpx.Client(base_url=api.url)
    document = root.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    chat = document["paths"]["/api/v1/streams/{stream_id}/chat"]["post"]
    body = chat["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["text"] and "message_id" not in body["properties"]
    assert root.get("/metrics").status_code == 401  # for the scraper only
    metrics = metrics_of(Running(api.settings, api.url))
    names = ("http_request_seconds", "kafka_produce_seconds", "ws_connections", "ws_frames_sent")
    for name in names:
        assert f"livefold_gateway_{name}" in metrics
    assert 'route="/api/v1/streams/{stream_id}/chat"' in metrics
    too_big = api.call("POST", "/streams/x/chat", VIEWER, content=b"x" * 70_000)
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"


def test_guests_are_listed_whole_to_the_stream_staff_and_to_each_guest_their_own(api: Api) -> None:
    stream_id = new_stream(api)
    guests = f"/streams/{stream_id}/guests"
    appointed = api.call(
        "POST", f"/streams/{stream_id}/moderators", STREAMER, json={"user_id": MOD}
    )
    assert appointed.status_code == 202
    eventually(
        lambda: (
            MOD
            in api.call("GET", f"/streams/{stream_id}/moderators", STREAMER).json()["moderators"]
        )
    )
    bob = "viewer-bob"
    mine = api.call("POST", guests, STREAMER, json={"guest_id": VIEWER}).json()["invite_id"]
    bobs = api.call("POST", guests, STREAMER, json={"guest_id": bob}).json()["invite_id"]
    for action in ("accept", "join"):
        assert api.call("POST", f"{guests}/{mine}/{action}", VIEWER).status_code == 202

    def statuses(user: str | None) -> dict[str, str]:
        invites = api.call("GET", guests, user).json()["invites"]
        return {invite["guest_id"]: invite["status"] for invite in invites}

    eventually(lambda: statuses(STREAMER) == {VIEWER: "live", bob: "invited"})
    assert statuses(MOD) == {VIEWER: "live", bob: "invited"}
    assert statuses(bob) == {bob: "invited"} and statuses(VIEWER) == {VIEWER: "live"}
    assert statuses("viewer-else") == {} and statuses(None) == {}
    public = api.call("GET", guests).json()
    assert [guest["guest_id"] for guest in public["on_stage"]] == [VIEWER]
    assert api.call("GET", f"/streams/{stream_id}").json()["on_stage"] == public["on_stage"]

    async def snapshot_keys(user: str | None) -> set[str]:
        query = "" if user is None else f"access_token={api.tokens.token(user)}"
        async with connect(Running(api.settings, api.url), query) as socket:
            (snapshot,) = await subscribe(socket, stream_id, ["stream"])
        return {update["key"] for update in snapshot["updates"]}

    assert asyncio.run(snapshot_keys(None)) == {stream_id}
    assert asyncio.run(snapshot_keys(bob)) == {stream_id, f"{stream_id}/guests/{bobs}/u/{bob}"}

    removed = api.call("POST", f"{guests}/{mine}/remove", STREAMER, json={"guest_id": VIEWER})
    assert removed.status_code == 202
    unknown = api.call("POST", f"{guests}/no-such-invite/remove", STREAMER)
    assert unknown.status_code == 404, unknown.text
    assert api.call("POST", f"{guests}/{bobs}/leave", bob).status_code == 202
    eventually(lambda: statuses(STREAMER) == {VIEWER: "removed", bob: "left"})
    assert api.call("GET", guests).json()["on_stage"] == []
    assert api.call("GET", "/streams/nope/guests").status_code == 404
