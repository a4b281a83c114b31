"""A socket keeps no right its holder lost: through two real gateway processes and the real fold
worker, a signed-out (revoked) session or a deleted account closes the user's sockets on every
gateway with 4401 and the reason, a revoked admin role or a removed moderator ends the moderator
channels with a frame saying why, all within seconds and without waiting for the token to
expire or be refreshed; other sessions and other users keep what they have."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from gateway.auth.admin import change_role
from livefold.settings import Settings
from tests.auth_client import CLIENT_ID, bearer, register, tokens
from tests.gateways import (
    MOD,
    STREAMER,
    VIEWER,
    Pair,
    Running,
    Tokens,
    answer_to,
    chat_texts,
    close_of,
    connect,
    eventually,
    gateway,
    metrics_of,
    next_frame,
    send_frame,
    signed_in,
    subscribe,
)

REACH = 10.0  # seconds a lost right may take to reach every socket ("within seconds", loaded)
MODERATOR_ONLY = ["moderation", "modlog"]


@pytest.fixture(scope="module")
def pair(folded: Settings) -> Iterator[Pair]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 500.0})
    with gateway(settings) as a, gateway(settings, "gateway-b") as b:
        yield Pair(a, b, Tokens(settings))


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


@contextlib.asynccontextmanager
async def holding(running: Running, access_token: str) -> AsyncIterator[Any]:
    """A socket signed in with a token from the sign-in flow, its welcome read."""
    async with connect(running, f"access_token={access_token}") as socket:
        assert json.loads(await socket.recv())["type"] == "welcome"
        yield socket


async def acked(socket: Any, ref: str, stream_id: str) -> None:
    await socket.send(send_frame(ref, "chat.send", stream_id, {"text": ref}))
    answer = await answer_to(socket, ref)
    assert answer["type"] == "ack", answer


async def dropped_channels(socket: Any, stream_id: str) -> list[str]:
    """The moderator channels the gateway ended on its own, each with its error frame."""
    ended: list[str] = []
    while len(ended) < len(MODERATOR_ONLY):
        frame = await next_frame(socket, lambda f: f["type"] == "error", timeout=REACH)
        assert (frame["op"], frame["stream"]) == ("subscribe", stream_id), frame
        assert "no longer a moderator" in frame["reason"], frame
        ended.append(frame["channel"])
    return sorted(ended)


def test_a_revoked_session_closes_its_sockets_on_every_gateway_within_seconds(
    pair: Pair, http: httpx.Client
) -> None:
    stream_id = pair.stream()
    person = register(http, pair.a.url)
    revoked = tokens(http, pair.a.url, person["username"])
    other_session = tokens(http, pair.a.url, person["username"])

    async def scenario() -> None:
        async with (
            holding(pair.a, revoked["access_token"]) as on_a,
            holding(pair.b, revoked["access_token"]) as on_b,
            holding(pair.b, other_session["access_token"]) as kept,
        ):
            for number, socket in enumerate((on_a, on_b, kept)):
                await acked(socket, f"before-{number}", stream_id)
            form = {"token": revoked["refresh_token"], "client_id": CLIENT_ID}
            answer = await asyncio.to_thread(http.post, f"{pair.a.url}/oauth/revoke", data=form)
            assert answer.status_code == 200, answer.text
            for socket in (on_a, on_b):
                close, _ = await close_of(socket, REACH)
                assert close.code == 4401 and "session ended" in close.reason, close
            await acked(kept, "after", stream_id)  # the user's other sign-in writes on

    asyncio.run(scenario())
    assert 'livefold_gateway_ws_dropped_total{reason="revoked"}' in metrics_of(pair.b)


def test_a_deleted_account_closes_its_sockets_on_every_gateway_within_seconds(
    pair: Pair, http: httpx.Client
) -> None:
    stream_id = pair.stream()
    person = register(http, pair.b.url)
    issued = tokens(http, pair.b.url, person["username"])

    async def scenario() -> None:
        async with (
            holding(pair.a, issued["access_token"]) as on_a,
            holding(pair.b, issued["access_token"]) as on_b,
            await signed_in(pair.a, pair.tokens, VIEWER) as bystander,
        ):
            await acked(on_a, "before", stream_id)
            me = f"{pair.b.url}/api/v1/accounts/me"
            deleted = await asyncio.to_thread(
                http.delete, me, headers=bearer(issued["access_token"])
            )
            assert deleted.status_code == 204, deleted.text
            for socket in (on_a, on_b):
                close, _ = await close_of(socket, REACH)
                assert (close.code, close.reason) == (4401, "the account was deleted")
            await acked(bystander, "bystander", stream_id)

    asyncio.run(scenario())


def test_an_admin_whose_role_is_revoked_loses_the_moderator_channels_within_seconds(
    pair: Pair, http: httpx.Client
) -> None:
    stream_id = pair.stream()
    person = register(http, pair.a.url)
    user_id = person["user_id"]
    change_role(pair.a.settings, "grant", user_id, "admin")
    me = f"{pair.a.url}/api/v1/accounts/me"
    first = tokens(http, pair.a.url, person["username"])["access_token"]
    admin = {"role": "admin", "channel_id": None}
    eventually(lambda: admin in http.get(me, headers=bearer(first)).json()["roles"])
    token = tokens(http, pair.a.url, person["username"])["access_token"]  # carries "admin"
    ban = f"{pair.b.url}/api/v1/streams/{stream_id}/moderation/timeouts"

    async def scenario() -> None:
        async with holding(pair.b, token) as socket:
            snapshots = await subscribe(socket, stream_id, [*MODERATOR_ONLY, "chat"])
            assert [s["type"] for s in snapshots] == ["snapshot"] * 3
            await asyncio.to_thread(change_role, pair.a.settings, "revoke", user_id, "admin")
            assert await dropped_channels(socket, stream_id) == MODERATOR_ONLY
            pair.say(stream_id, "chat goes on")
            frame = await next_frame(socket, lambda f: f["type"] == "batch" and f["notices"])
            assert frame["channel"] == "chat" and chat_texts(frame) == ["chat goes on"]

    asyncio.run(scenario())
    # Over HTTP too, the token in hand no longer carries a role the log took back.
    body = {"user_id": VIEWER, "seconds": 60}
    assert http.post(ban, json=body, headers=bearer(token)).status_code == 403


def test_a_removed_moderator_loses_the_moderator_channels_within_seconds(pair: Pair) -> None:
    stream_id = pair.stream()
    staff = f"{pair.b.url}/api/v1/streams/{stream_id}/moderators"

    def moderators() -> list[str]:
        answer = httpx.get(staff, headers=pair.tokens.headers(STREAMER, {"streamer"}))
        return list(answer.json()["moderators"])

    pair.post(pair.a, f"/streams/{stream_id}/moderators", STREAMER, {"user_id": MOD})
    eventually(lambda: MOD in moderators())

    async def scenario() -> None:
        async with (
            await signed_in(pair.b, pair.tokens, MOD) as mod,
            await signed_in(pair.b, pair.tokens, STREAMER) as owner,
        ):
            await subscribe(mod, stream_id, [*MODERATOR_ONLY, "chat"])
            await subscribe(owner, stream_id, ["moderation"])
            removed = await asyncio.to_thread(
                httpx.delete, f"{staff}/{MOD}", headers=pair.tokens.headers(STREAMER, {"streamer"})
            )
            assert removed.status_code == 202, removed.text
            assert await dropped_channels(mod, stream_id) == MODERATOR_ONLY  # no refresh needed
            # A flag reaches the moderators' queue: the owner hears it, the removed one does not.
            message_id = pair.say(stream_id, "flag me")
            pair.post(pair.a, f"/streams/{stream_id}/chat/{message_id}/flags", VIEWER,
                      {"reason": "spam"})  # fmt: skip
            await next_frame(owner, lambda f: f["type"] == "batch" and f["notices"])
            heard: list[str] = []
            while "flag me" not in heard:  # chat goes on for the removed moderator
                frame = await next_frame(mod, lambda f: f["type"] == "batch")
                assert frame["channel"] == "chat", frame
                heard += chat_texts(frame)
            with pytest.raises(TimeoutError):
                await next_frame(mod, lambda f: f.get("channel") in MODERATOR_ONLY, timeout=1.5)

    asyncio.run(scenario())
