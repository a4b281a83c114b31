"""Erasure of what a user wrote for others (crypto-shredding): through real gateway processes
and the real fold worker, a tip's message and a clip's title enter the log sealed with the
author's data key, viewers still read them (the gateway opens them), and once the account is
deleted they read as nothing everywhere: in the log, and on every gateway's frames and listings;
amounts and ids stay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livefold import tips
from livefold.data_keys import SEALED_TEXT, text_opener
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.events import Event, new_event
from streams.producer import EventProducer
from tests.auth_client import bearer, register, tokens
from tests.gateways import (
    Pair,
    Tokens,
    connect,
    eventually,
    fold_workers,
    gateway,
    next_frame,
    subscribe,
)


@pytest.fixture(scope="module")
def pair(stack: Settings) -> Iterator[Pair]:
    with fold_workers(stack), gateway(stack) as a, gateway(stack, "gateway-b") as b:
        yield Pair(a, b, Tokens(stack))


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
