"""Erasure of what a user wrote for others (crypto-shredding): through real gateway processes
and the real fold worker, a chat message, a tip's message and a clip's title enter the log
sealed with the author's data key, viewers still read them (the gateway opens them), and once
the account is deleted they read as nothing everywhere: in the log, the state topics and
changelogs, ClickHouse, and on every gateway's frames and listings; amounts and ids stay.
Moderation judges the opened text in memory and keeps only the sealed text and a keyed
fingerprint of its words; replay folds a message erased since with its logged verdict."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from agents.replay import ReplayModeration
from livefold import tips
from livefold.analytics_store import clickhouse_client
from livefold.data_keys import (
    SEALED_TEXT,
    DirectoryKeyStore,
    KeyErased,
    RecentKeys,
    TextOpener,
    seal_text,
    text_opener,
)
from livefold.folding import digest, dumps
from livefold.moderation.fold import fold
from livefold.moderation.state import ModerationState, review_queue
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.events import Event, new_event
from streams.producer import EventProducer
from tests.analytics_support import Sink, wait_caught_up
from tests.auth_client import bearer, register, tokens
from tests.gateways import (
    Pair,
    Tokens,
    connect,
    eventually,
    gateway,
    next_frame,
    recorded,
    subscribe,
)


@pytest.fixture(scope="module")
def pair(folded: Settings) -> Iterator[Pair]:
    with gateway(folded) as a, gateway(folded, "gateway-b") as b:
        yield Pair(a, b, Tokens(folded))


def logged(settings: Settings, domain: str, stream_id: str) -> list[Event]:
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    try:
        records = read_to_end(settings, codec, [event_topic(domain)], deadletter)
        return [record.event for record in records if record.event.stream_id == stream_id]
    finally:
        deadletter.close()


def test_tip_messages_and_clip_titles_are_erased_with_their_authors_account(pair: Pair) -> None:
    settings = pair.tokens.settings
    stream_id = pair.stream()
    recorded(settings, stream_id, pair.a.url)
    secret = f"thanks from {uuid.uuid4().hex[:8]}"
    title = f"my best clip {uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=30.0) as http:
        person = register(http, pair.a.url)
        access = tokens(http, pair.a.url, person["username"])["access_token"]
        api = f"{pair.a.url}/api/v1/streams/{stream_id}"
        tip = http.post(
            f"{api}/tips",
            json={"amount_minor": 700, "currency": "EUR", "message": secret},
            headers={**bearer(access), "Idempotency-Key": "erasable-tip"},
        )
        assert tip.status_code == 202, tip.text
        clip = http.post(
            f"{api}/clips",
            json={"start_offset_ms": 0, "end_offset_ms": 5_000, "title": title},
            headers=bearer(access),
        )
        assert clip.status_code == 202, clip.text

    # In the log only sealed: the words are nowhere in the records.
    (intent,) = [e for e in logged(settings, "tips", stream_id) if e.name == "TipIntentCreated"]
    (cut,) = [e for e in logged(settings, "media", stream_id) if e.name == "ClipCreated"]
    for sealed in (intent.body["message"], cut.body["title"]):
        assert sealed.startswith(SEALED_TEXT) and secret not in sealed and title not in sealed
    assert text_opener(settings).open(intent.body["message"]) == secret
    producer = EventProducer(settings, Codec.from_settings(settings))
    captured = new_event(
        tips.TIP_CAPTURED, stream_id=stream_id, actor_id="system", tip_id=tip.json()["tip_id"],
        amount_minor=700, currency="EUR", provider_reference=None, idempotency_key="erasable-tip",
    )  # fmt: skip
    producer.append(captured).result(30)
    producer.close()

    def clips(running: Any) -> list[Any]:
        listing = httpx.get(f"{running.url}/api/v1/streams/{stream_id}/clips").json()
        return [item["title"] for item in listing["items"]]

    async def alerts(running: Any) -> list[Any]:
        """The tip alerts a viewer gets, resuming the tips channel from its start."""
        async with connect(running) as viewer:
            await viewer.recv()
            (snapshot,) = await subscribe(viewer, stream_id, ["tips"], {"tips": ""})
            found = [n["value"] for n in snapshot["notices"] if n["kind"] == "alert"]
            while not found:
                frame = await next_frame(viewer, lambda f: f["type"] == "batch")
                found = [n["value"] for n in frame["notices"] if n["kind"] == "alert"]
            return found

    # Viewers read them while the account lives.
    assert eventually(lambda: clips(pair.b)) == [title]
    (alert,) = asyncio.run(alerts(pair.b))
    assert (alert["message"], alert["amount_minor"]) == (secret, 700)

    with httpx.Client(timeout=30.0) as http:
        deleted = http.delete(f"{pair.a.url}/api/v1/accounts/me", headers=bearer(access))
        assert deleted.status_code == 204, deleted.text

    # Erased on every gateway's listings and frames; the amounts and ids stay.
    for running in (pair.a, pair.b):
        assert eventually(lambda r=running: clips(r) == [None])
        (alert,) = asyncio.run(alerts(running))
        assert (alert["message"], alert["amount_minor"]) == (None, 700)
        assert alert["supporter"] == person["user_id"]
    # ... and in the log, for whoever reads it from now on.
    fresh = text_opener(settings)
    assert fresh.open(intent.body["message"]) is None
    assert fresh.open(cut.body["title"]) is None


# ---------------------------------------------------------------- chat

T0 = datetime(2026, 5, 1, 20, 0, tzinfo=UTC)
STREAM, AUTHOR = "erasure-stream", "author-1"
CHAT_WORDS = ("hello", "there", "friends", "idiot")


def sealed_chat(key_id: str, key: bytes) -> list[Event]:
    """A stream, then one author's messages sealed with their key: a greeting, the same words
    again (a duplicate), an insult (held for review)."""

    def at(seconds: int) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def said(seconds: int, message_id: str, text: str) -> Event:
        return new_event(
            "livefold.chat.MessageSent", stream_id=STREAM, actor_id=AUTHOR,
            occurred_at=at(seconds), message_id=message_id, text=seal_text(key_id, key, text),
            emotes=[],
        )  # fmt: skip

    created = new_event("livefold.stream.Created", stream_id=STREAM, actor_id="streamer",
                        occurred_at=at(0), title="t", category="c", tags=[])  # fmt: skip
    return [
        created,
        said(1, "m1", "hello there friends"),
        said(3, "m2", "Hello  there friends"),
        said(20, "m3", "you are an idiot"),
    ]


def judged(texts: Any, events: list[Event], replay: ReplayModeration | None = None) -> tuple[
    ModerationState, list[Event]
]:  # fmt: skip
    state: Any = None
    verdicts: list[Event] = []
    for event in events:
        if replay is None:
            state, outputs = fold(state, event, texts=texts)
        else:
            state, outputs = replay.fold(state, event)
        verdicts += [o for o in outputs if isinstance(o, Event) and o.name == "VerdictIssued"]
    return state, verdicts


def test_moderation_judges_sealed_chat_and_keeps_neither_its_text_nor_its_words(
    tmp_path: Path,
) -> None:
    store = DirectoryKeyStore(tmp_path)
    key_id, key = store.create()
    texts = TextOpener(store.get)
    state, verdicts = judged(texts, sealed_chat(key_id, key))

    # Judged on the opened text: a duplicate is found by the words' keyed fingerprint.
    decided = [(v.body["verdict"], v.body["rule"]) for v in verdicts]
    assert decided == [("allow", "clean"), ("block", "spam_duplicate"), ("hold", "toxicity")]
    kept = dumps(state).decode()
    assert not [word for word in CHAT_WORDS if word in kept.casefold()]
    # Moderators read the held message: sealed in the queue, opened where it is shown.
    (held,) = review_queue(state)
    assert held["text"].startswith(SEALED_TEXT) and held["detail"] == ""
    assert texts.open(held["text"]) == "you are an idiot"

    store.destroy(key_id)
    late = sealed_chat(key_id, key)[1]
    _, (erased,) = judged(TextOpener(store.get), [late])
    assert (erased.body["verdict"], erased.body["rule"]) == ("block", "erased")


def test_replay_folds_chat_erased_since_with_its_logged_verdicts_into_the_same_state(
    tmp_path: Path,
) -> None:
    store = DirectoryKeyStore(tmp_path)
    key_id, key = store.create()
    events = sealed_chat(key_id, key)
    live, verdicts = judged(TextOpener(store.get), events)
    logged = {v.event_id: (v.body["verdict"], v.body["rule"], v.body["score"]) for v in verdicts}

    store.destroy(key_id)
    replay = ReplayModeration({}, TextOpener(store.get), logged)
    rebuilt, again = judged(None, events, replay)
    assert [v.body for v in again] == [v.body for v in verdicts]
    assert digest({"moderation": {STREAM: rebuilt}}) == digest({"moderation": {STREAM: live}})


def test_a_judging_process_remembers_a_key_for_its_ttl_only(tmp_path: Path) -> None:
    store = DirectoryKeyStore(tmp_path)
    key_id, key = store.create()
    remembered, fresh = RecentKeys(store.get, ttl=600), RecentKeys(store.get, ttl=0)
    assert remembered(key_id) == fresh(key_id) == key
    store.destroy(key_id)
    assert remembered(key_id) == key  # no store round trip per message within the ttl
    with pytest.raises(KeyErased):
        fresh(key_id)


def syllables(count: int) -> str:
    """A made-up word no rule objects to, and that nobody else writes."""
    return "".join(
        random.choice(("ba", "do", "ki", "lu", "me", "no", "ru", "so")) for _ in range(count)
    )


def raw_records(settings: Settings) -> list[tuple[str, bytes]]:
    """Every record's key and value as stored, on every topic (events, state, changelogs),
    read by a plain consumer from the start to the current end."""
    admin = AdminClient(settings.kafka_config())
    topics = admin.list_topics(timeout=10).topics
    consumer = Consumer(
        {**settings.kafka_config(), "group.id": f"erasure-{uuid.uuid4().hex}",
         "enable.auto.commit": False, "isolation.level": "read_uncommitted"}
    )  # fmt: skip
    ends: dict[tuple[str, int], int] = {}
    try:
        starts = []
        for topic, metadata in topics.items():
            if topic.startswith("__"):
                continue
            for partition in metadata.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                if high > low:
                    starts.append(TopicPartition(topic, partition, low))
                    ends[(topic, partition)] = high
        consumer.assign(starts)
        found: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + 120
        while ends:
            assert time.monotonic() < deadline, f"topics not read to their end: {sorted(ends)}"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append((message.topic(), (message.key() or b"") + (message.value() or b"")))
            for place in [TopicPartition(t, p) for t, p in ends]:
                (position,) = consumer.position([place])
                if position.offset >= ends[(place.topic, place.partition)]:
                    del ends[(place.topic, place.partition)]
        return found
    finally:
        consumer.close()


def test_chat_is_erased_with_its_authors_account(pair: Pair) -> None:
    settings = pair.tokens.settings
    stream_id = pair.stream()
    secret = f"greetings {syllables(5)} {syllables(4)}"
    with httpx.Client(timeout=30.0) as http:
        person = register(http, pair.a.url)
        access = tokens(http, pair.a.url, person["username"])["access_token"]
        sent = http.post(
            f"{pair.a.url}/api/v1/streams/{stream_id}/chat",
            json={"text": secret},
            headers=bearer(access),
        )
        assert sent.status_code == 202, sent.text
    message_id = sent.json()["message_id"]

    def listed(running: Any) -> list[Any]:
        listing = httpx.get(f"{running.url}/api/v1/streams/{stream_id}/chat").json()
        return [(item["message_id"], item["text"]) for item in listing["items"]]

    async def snapshot(running: Any) -> list[Any]:
        async with connect(running) as viewer:
            await viewer.recv()
            (chat,) = await subscribe(viewer, stream_id, ["chat"])
            (update,) = chat["updates"]
            return [m["text"] for m in update["value"]["messages"]]

    # Viewers read it while the account lives; the log holds it sealed.
    assert eventually(lambda: listed(pair.b)) == [(message_id, secret)]
    assert asyncio.run(snapshot(pair.a)) == [secret]
    (said,) = [e for e in logged(settings, "chat", stream_id) if e.name == "MessageSent"]
    assert said.body["text"].startswith(SEALED_TEXT)

    with httpx.Client(timeout=30.0) as http:
        deleted = http.delete(f"{pair.a.url}/api/v1/accounts/me", headers=bearer(access))
        assert deleted.status_code == 204, deleted.text

    # Every gateway shows it as null: the listing and the sockets.
    for running in (pair.a, pair.b):
        assert eventually(lambda r=running: listed(r) == [(message_id, None)])
        assert asyncio.run(snapshot(running)) == [None]
    assert text_opener(settings).open(said.body["text"]) is None

    # ClickHouse holds the sealed text only, in chat_messages and in the raw events.
    sink = Sink(settings, f"erasure-{uuid.uuid4().hex}")
    sink.start()
    try:
        judged = [event_topic("chat"), event_topic("moderation")]  # messages, their verdicts
        wait_caught_up(settings, sink.group, topics=judged, timeout=120)
    finally:
        sink.stop()
    client = clickhouse_client(settings)
    (stored,) = client.query(
        "SELECT text FROM chat_messages FINAL WHERE message_id = {id:String}",
        parameters={"id": message_id},
    ).result_rows
    assert stored[0].startswith(SEALED_TEXT)
    plain = client.query(
        "SELECT count() FROM events WHERE position(payload, {secret:String}) > 0",
        parameters={"secret": secret},
    ).result_rows
    assert plain == [(0,)]
    # Scrolled back through the whole chat (read from there), it is null too.
    history = httpx.get(f"{pair.b.url}/api/v1/streams/{stream_id}/chat/history").json()
    assert [(m["message_id"], m["text"]) for m in history["messages"]] == [(message_id, None)]

    # No record of any topic holds the words: event topics, state topics, changelogs.
    records = raw_records(settings)
    assert any(topic == event_topic("chat") for topic, _ in records)
    words = secret.encode()
    assert not [topic for topic, record in records if words in record]
    assert not [topic for topic, record in records if secret.split()[1].encode() in record]
