"""Notifications through real gateways and the real fold worker: a follower is told when the
stream goes live (a `notification` frame on their socket, on another gateway, subscribed to
nothing), an author when someone replies to them, and each lists their own notifications."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livefold.settings import Settings
from tests.gateways import (
    STREAMER,
    VIEWER,
    Pair,
    Tokens,
    eventually,
    gateway,
    next_frame,
    signed_in,
)

FOLLOWER = "viewer-hal"


@pytest.fixture(scope="module")
def pair(folded: Settings) -> Iterator[Pair]:
    with (
        gateway(folded, "gateway-notify-a") as a,
        gateway(folded, "gateway-notify-b") as b,
    ):
        yield Pair(a, b, Tokens(folded))


def answer(pair: Pair, user: str) -> dict[str, Any]:
    got = httpx.get(f"{pair.b.url}/api/v1/notifications", headers=pair.tokens.headers(user))
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def listed(pair: Pair, user: str) -> list[dict[str, Any]]:
    notifications: list[dict[str, Any]] = answer(pair, user)["notifications"]
    return notifications


def follows(pair: Pair, stream_id: str, user: str) -> None:
    answer = httpx.put(
        f"{pair.a.url}/api/v1/streams/{stream_id}/follow", headers=pair.tokens.headers(user)
    )
    assert answer.status_code == 202, answer.text


def test_followers_hear_the_stream_go_live_on_their_socket_and_in_their_list(pair: Pair) -> None:
    stream_id = pair.stream()
    follows(pair, stream_id, FOLLOWER)
    eventually(lambda: stream_id in answer(pair, FOLLOWER)["following"])  # gateway b knows

    async def live() -> dict[str, Any]:
        socket = await signed_in(pair.b, pair.tokens, FOLLOWER)
        async with socket:
            pair.post(pair.a, f"/streams/{stream_id}/live", STREAMER)
            return await next_frame(socket, lambda f: f["type"] == "notification")

    frame = asyncio.run(live())
    notification = frame["notification"]
    assert notification["kind"] == "stream_live"
    assert notification["stream_id"] == stream_id
    assert notification["payload"]["title"] == "Live coding"
    mine = eventually(lambda: listed(pair, FOLLOWER))
    assert mine[0]["notification_id"] == notification["notification_id"]
    assert all(n["stream_id"] != stream_id for n in listed(pair, "viewer-not-following"))


def test_a_reply_tells_the_author_and_nobody_else(pair: Pair) -> None:
    stream_id = pair.stream()
    first = pair.post(pair.a, f"/streams/{stream_id}/chat", VIEWER, {"text": "first!"})
    body = {"text": "welcome", "reply_to": first["message_id"]}
    reply = pair.post(pair.a, f"/streams/{stream_id}/chat", FOLLOWER, body)
    told = eventually(
        lambda: [n for n in listed(pair, VIEWER) if n["stream_id"] == stream_id], timeout=30
    )
    assert [n["kind"] for n in told] == ["chat_reply"]
    assert told[0]["payload"] == {"from": FOLLOWER, "message_id": reply["message_id"]}
    assert [n for n in listed(pair, FOLLOWER) if n["stream_id"] == stream_id] == []


def test_push_subscriptions_and_webhooks_are_registered_for_the_caller(pair: Pair) -> None:
    headers = pair.tokens.headers(VIEWER)
    key = httpx.get(f"{pair.a.url}/api/v1/notifications/vapid-public-key").json()["public_key"]
    point = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(point) == 65 and point[0] == 4  # an uncompressed P-256 point
    subscription = {"endpoint": "https://push.example.net/s/1", "p256dh": key, "auth": "x" * 22}
    answer = httpx.post(
        f"{pair.a.url}/api/v1/notifications/push-subscriptions", json=subscription, headers=headers
    )
    assert answer.status_code == 202, answer.text
    bad = httpx.post(
        f"{pair.a.url}/api/v1/notifications/webhooks",
        json={"url": "ftp://example.net/x"},
        headers=headers,
    )
    assert bad.status_code == 422 and "url" in bad.text
    hook = httpx.post(
        f"{pair.a.url}/api/v1/notifications/webhooks",
        json={"url": "https://bot.example.net/hook", "kinds": ["tip_received"]},
        headers=headers,
    )
    assert hook.status_code == 202, hook.text
    assert len(hook.json()["secret"]) == 64 and hook.json()["webhook_id"]
