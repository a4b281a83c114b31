"""Hostile input to a real `python -m gateway` (with the real fold worker), as an attacker sends
it: lone surrogates, JSON nested thousands deep, control characters, quotes in OAuth
parameters, overlong ids, reserved usernames, tokens of the wrong kind, and writes the folds
would refuse. Every answer is a 4xx with a reason (a socket: an error frame, or a close with
its code and reason), never a 5xx or a dead socket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from websockets.exceptions import ConnectionClosed

from livefold.access.local import load_signing_keys, signing_key_path
from livefold.payments.stripe_events import SIGNATURE_HEADER, sign
from livefold.settings import Settings
from tests.auth_client import (
    CLIENT_ID,
    authorization_request,
    bearer,
    claims_of,
    new_pkce,
    register,
    tokens,
)
from tests.gateways import Running, Tokens, connect, eventually, gateway

STREAMER, VIEWER, MOD = "streamer-ivy", "viewer-jon", "mod-kit"
DEEP = "[" * 5000 + "]" * 5000
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hostile(folded: Settings) -> Iterator[Running]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 200.0})
    with gateway(settings, "gateway-input") as running:
        yield running


@pytest.fixture(scope="module")
def stream(hostile: Running) -> str:
    tokens = Tokens(hostile.settings)
    api = f"{hostile.url}/api/v1"
    body = {"title": "Hostile input", "category": "Testing"}
    owner = tokens.headers(STREAMER, {"streamer"})
    created = httpx.post(f"{api}/streams", json=body, headers=owner)
    assert created.status_code == 202, created.text
    stream_id = str(created.json()["stream_id"])
    eventually(lambda: httpx.get(f"{api}/streams/{stream_id}").status_code == 200)
    appointed = httpx.post(
        f"{api}/streams/{stream_id}/moderators",
        json={"user_id": MOD},
        headers=tokens.headers(STREAMER, {"streamer"}),
    )
    assert appointed.status_code == 202, appointed.text
    staff = f"{api}/streams/{stream_id}/moderators"
    headers = tokens.headers(STREAMER, {"streamer"})
    eventually(lambda: MOD in httpx.get(staff, headers=headers).json().get("moderators", []))
    return stream_id


def post(running: Running, path: str, raw: str, user: str | None = VIEWER) -> httpx.Response:
    headers = dict(JSON)
    if user is not None:
        headers.update(Tokens(running.settings).headers(user, {"viewer"}))
    return httpx.post(f"{running.url}{path}", content=raw.encode(), headers=headers)


def refused(answer: httpx.Response, status: int = 422) -> dict[str, str]:
    assert answer.status_code == status, answer.text
    return {field["field"]: field["reason"] for field in answer.json().get("fields", [])}


def test_a_lone_surrogate_in_any_write_body_is_a_422_naming_the_field(
    hostile: Running, stream: str
) -> None:
    chat = f"/api/v1/streams/{stream}/chat"
    assert "lone surrogate" in refused(post(hostile, chat, '{"text": "hi \\ud800"}'))["text"]
    create = post(hostile, "/api/v1/streams", '{"title": "\\udfff", "category": "x"}', STREAMER)
    assert "lone surrogate" in refused(create)["title"]
    assert "control characters" in refused(post(hostile, chat, '{"text": "a\\u0000b"}'))["text"]
    assert refused(post(hostile, chat, '{"text": NaN}'))
    fine = post(hostile, chat, '{"text": "emoji \\ud83d\\ude00 and a\\nnewline"}')
    assert fine.status_code == 202, fine.text


def test_json_nested_thousands_deep_is_refused_everywhere(hostile: Running, stream: str) -> None:
    deep = f'{{"text": {DEEP}}}'
    assert "nests deeper" in refused(post(hostile, f"/api/v1/streams/{stream}/chat", deep))["body"]
    assert "nests deeper" in refused(post(hostile, "/api/v1/accounts", deep, None), 400)["body"]
    refund = f"/api/v1/streams/{stream}/tips/no-tip/refund"
    assert "nests deeper" in refused(post(hostile, refund, deep, STREAMER))["body"]
    pay = "/api/v1/payments/sandbox/pay"
    assert "nests deeper" in refused(post(hostile, pay, deep))["body"]
    # A webhook signed with the sandbox's secret, as the sandbox (or anyone who knows it) would.
    secret = hostile.settings.secret("payment_sandbox_secret")
    hook = httpx.post(
        f"{hostile.url}/api/v1/payments/webhook/sandbox",
        content=deep.encode(),
        headers={**JSON, SIGNATURE_HEADER: sign(deep, secret)},
    )
    assert hook.status_code == 400 and hook.json()["error"] == "bad_webhook", hook.text
    with httpx.Client(timeout=30.0) as http:
        account = register(http, hostile.url)
        issued = tokens(http, hostile.url, account["username"])["access_token"]
        profile = http.patch(
            f"{hostile.url}/api/v1/accounts/me",
            content=f'{{"display_name": {DEEP}}}'.encode(),
            headers={**JSON, **bearer(issued)},
        )
    assert "nests deeper" in refused(profile, 400)["body"]


def test_sockets_answer_bad_text_with_an_error_frame_or_a_clear_close(
    hostile: Running, stream: str
) -> None:
    token = Tokens(hostile.settings).token(VIEWER)

    async def scenario() -> None:
        async with connect(hostile, f"access_token={token}") as socket:
            assert json.loads(await socket.recv())["type"] == "welcome"
            frame = {"op": "send", "id": "w1", "write": "chat.send", "stream": stream}
            await socket.send(json.dumps(frame)[:-1] + ', "body": {"text": "x\\ud800"}}')
            error = json.loads(await socket.recv())
            assert (error["type"], error["id"], error["status"]) == ("error", "w1", 422), error
            assert "lone surrogate" in error["fields"][0]["reason"]
            assert error["fields"][0]["field"] == "text"
            await socket.send('{"op": "ping", "id": "p1"}')
            assert json.loads(await socket.recv()) == {"type": "pong", "id": "p1"}
            await socket.send('{"op": "ping", "id": "\\ud800"}')
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
            assert "lone surrogate" in closed.value.rcvd.reason
        async with connect(hostile, f"access_token={token}") as socket:
            await socket.recv()
            await socket.send('{"op": "ping", "id": ' + DEEP + "}")
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
            assert "nests deeper" in closed.value.rcvd.reason

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.parametrize(
    "name,value",
    [
        ("redirect_uri", 'http://127.0.0.1:53117/callback"'),
        ("redirect_uri", "http://127.0.0.1:53117/call\\back"),
        ("response_type", 'code"'),
        ("response_type", "to\\ken"),
    ],
)
def test_quotes_or_backslashes_in_oauth_parameters_are_a_400_page(
    hostile: Running, name: str, value: str
) -> None:
    params = authorization_request(new_pkce()) | {name: value}
    answer = httpx.get(f"{hostile.url}/oauth/authorize", params=params)
    assert answer.status_code == 400, answer.text
    assert "quote or a backslash" in answer.text


def test_ids_longer_or_stranger_than_an_id_are_refused(hostile: Running, stream: str) -> None:
    tokens = Tokens(hostile.settings)
    moderators = f"{hostile.url}/api/v1/streams/{stream}/moderators"
    for user_id in ("u" * 10_000, "two words", "new\nline", "../admin"):
        answer = httpx.post(
            moderators, json={"user_id": user_id}, headers=tokens.headers(STREAMER, {"streamer"})
        )
        assert "must be an id" in refused(answer)["user_id"], user_id


def test_moderation_the_fold_would_refuse_is_refused_before_the_log(
    hostile: Running, stream: str
) -> None:
    tokens = Tokens(hostile.settings)
    api = f"{hostile.url}/api/v1/streams/{stream}"
    as_mod = tokens.headers(MOD)
    banned = httpx.post(f"{api}/moderation/bans", json={"user_id": STREAMER}, headers=as_mod)
    assert banned.status_code == 403 and "is the streamer" in banned.json()["reason"]
    until = int(time.time() * 1000) + 60_000
    timed_out = httpx.post(
        f"{api}/moderation/timeouts", json={"user_id": MOD, "until": until}, headers=as_mod
    )
    assert timed_out.status_code == 403 and "is a moderator" in timed_out.json()["reason"]
    removed = httpx.delete(
        f"{api}/moderators/nobody-here", headers=tokens.headers(STREAMER, {"streamer"})
    )
    assert removed.status_code == 404, removed.text
    fine = httpx.post(f"{api}/moderation/bans", json={"user_id": "troll-7"}, headers=as_mod)
    assert fine.status_code == 202, fine.text


def test_reserved_names_and_lookalikes_of_taken_ones_cannot_be_registered(
    hostile: Running,
) -> None:
    with httpx.Client(timeout=30.0) as http:
        for name in ("admin", "Adm1n", "moderator", "rnoderator", "livefold", "l1ve.fold", "root"):
            answer = http.post(
                f"{hostile.url}/api/v1/accounts",
                json={
                    "username": name,
                    "password": "correct horse battery staple",
                    "display_name": "Not staff",
                    "email": "not-staff@example.org",
                },
            )
            assert "reserved" in refused(answer)["username"], name
        taken = register(http, hostile.url, f"olli{uuid.uuid4().hex[:8]}")["username"]
        lookalike = "0L1I" + taken[4:].upper() + "_"  # zero, L, one, I: reads as "olli"
        again = http.post(
            f"{hostile.url}/api/v1/accounts",
            json={
                "username": lookalike,
                "password": "correct horse battery staple",
                "display_name": "Copycat",
                "email": "copycat@example.org",
            },
        )
        assert again.status_code == 409, again.text


def test_only_access_tokens_in_their_validity_window_are_accepted(hostile: Running) -> None:
    settings = hostile.settings
    tokens = Tokens(settings)
    keys = load_signing_keys(signing_key_path(settings))
    me = f"{hostile.url}/api/v1/accounts/me"
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "someone",
        "roles": ["viewer"],
        "iss": tokens.settings.gateway_url,
        "aud": settings.auth_audience,
        "iat": now,
        "exp": now + 600,
    }
    untyped = jwt.encode({"alg": "ES256", "kid": keys.kid, "typ": "JWT"}, claims, keys.key)
    answer = httpx.get(me, headers=bearer(untyped))
    assert answer.status_code == 401 and "not an access token" in answer.text, answer.text
    later = {"extra_claims": {"nbf": now + 3600}}
    answer = httpx.get(me, headers=tokens.headers("someone", **later))
    assert answer.status_code == 401 and "not valid yet" in answer.text, answer.text
    assert httpx.get(me, headers=tokens.headers("someone")).status_code == 200


def test_id_tokens_carry_at_hash_and_revocation_hints_are_a_400(hostile: Running) -> None:
    with httpx.Client(timeout=30.0) as http:
        account = register(http, hostile.url)
        issued = tokens(http, hostile.url, account["username"])
        digest = hashlib.sha256(issued["access_token"].encode()).digest()
        at_hash = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        assert claims_of(issued["id_token"])["at_hash"] == at_hash
        form = {"token": issued["refresh_token"], "token_type_hint": "id_token"}
        answer = http.post(f"{hostile.url}/oauth/revoke", data={**form, "client_id": CLIENT_ID})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "unsupported_token_type"


def test_a_webhook_body_without_a_length_is_bounded_too(hostile: Running) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 8192

    answer = httpx.post(
        f"{hostile.url}/api/v1/payments/webhook/sandbox", content=chunks(), headers=JSON
    )
    assert answer.status_code == 413 and answer.json()["error"] == "too_large", answer.text


def test_a_token_whose_claims_nest_thousands_deep_is_a_401_not_a_crash(hostile: Running) -> None:
    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = b'{"sub": "x", "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    header = b'{"alg": "ES256"}'
    token = f"{segment(header)}.{segment(claims)}.{segment(b'sig')}"
    answer = httpx.get(f"{hostile.url}/api/v1/accounts/me", headers=bearer(token))
    assert answer.status_code == 401 and "malformed token" in answer.text, answer.text

    async def scenario() -> None:
        async with connect(hostile) as socket:
            assert json.loads(await socket.recv())["type"] == "welcome"
            await socket.send(json.dumps({"op": "auth", "token": token}))
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    asyncio.run(asyncio.wait_for(scenario(), 30))
