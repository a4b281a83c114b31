"""The `/ws` fan-out through two real gateway processes: a chat message sent through gateway A
reaches a subscriber on gateway B, batched; a client resumes where it left off on the other
gateway; auth failures, bad frames and slow clients get a close code and reason."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from livefold.folding import Notice
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import new_event
from streams.producer import EventProducer
from streams.state import to_record
from tests.gateways import (
    Running,
    Tokens,
    connect,
    fold_workers,
    gateway,
    next_frame,
    subscribe,
)

STREAMER, VIEWER, MOD = "streamer-eve", "viewer-fay", "mod-gus"


class Pair:
    def __init__(self, a: Running, b: Running, tokens: Tokens):
        self.a, self.b, self.tokens = a, b, tokens

    def post(self, running: Running, path: str, user: str, body: Any = None) -> Any:
        roles = {"streamer"} if user.startswith("streamer") else {"viewer"}
        answer = httpx.post(
            f"{running.url}/api/v1{path}", json=body or {}, headers=self.tokens.headers(user, roles)
        )
        assert answer.status_code == 202, answer.text
        return answer.json()

    def stream(self) -> str:
        body = {"title": "Live coding", "category": "Software"}
        stream_id = str(self.post(self.a, "/streams", STREAMER, body)["stream_id"])
        for running in (self.a, self.b):
            deadline = time.monotonic() + 15
            while httpx.get(f"{running.url}/api/v1/streams/{stream_id}").status_code != 200:
                assert time.monotonic() < deadline, "the stream did not reach the gateways"
                time.sleep(0.05)
        return stream_id

    def say(self, stream_id: str, text: str, user: str = VIEWER) -> str:
        return str(
            self.post(self.a, f"/streams/{stream_id}/chat", user, {"text": text})["message_id"]
        )


@pytest.fixture(scope="module")
def pair(stack: Settings) -> Iterator[Pair]:
    settings = stack.model_copy(update={"gateway_user_writes_per_second": 500.0})
    with fold_workers(settings), gateway(settings) as a, gateway(settings, "gateway-b") as b:
        yield Pair(a, b, Tokens(settings))


def chat_texts(frame: dict[str, Any]) -> list[str]:
    return [n["value"]["text"] for n in frame["notices"] if n["kind"] == "message"]


async def collect_texts(socket: Any, count: int) -> tuple[list[str], int, str]:
    """Chat texts from batch frames until `count` arrived: (texts, frames, last cursor)."""
    texts: list[str] = []
    frames = 0
    cursor = ""
    while len(texts) < count:
        frame = await next_frame(socket, lambda f: f["type"] == "batch" and f["channel"] == "chat")
        texts += chat_texts(frame)
        frames += 1
        cursor = frame["cursor"]
    return texts, frames, cursor


def test_a_message_sent_through_one_gateway_reaches_a_subscriber_on_the_other(pair: Pair) -> None:
    stream_id = pair.stream()

    async def scenario() -> None:
        async with connect(pair.b) as socket:
            welcome = json.loads(await socket.recv())
            assert welcome["type"] == "welcome" and welcome["user"] is None
            (snapshot,) = await subscribe(socket, stream_id, ["chat"])
            assert snapshot["updates"] == [] and snapshot["complete"]
            pair.say(stream_id, "hello from A")
            texts: list[str] = []
            updates: list[dict[str, Any]] = []
            while not (texts and updates):  # the notice and the view, in one frame or two
                frame = await next_frame(socket, lambda f: f["type"] == "batch")
                assert (frame["stream"], frame["channel"]) == (stream_id, "chat")
                texts += chat_texts(frame)
                updates += frame["updates"]
            assert texts == ["hello from A"]
            assert updates[-1]["value"]["published"] == 1
            assert "messages" not in updates[-1]["value"]  # live frames carry no history

    asyncio.run(scenario())


def test_a_burst_arrives_in_order_in_fewer_frames_than_messages(pair: Pair) -> None:
    stream_id = pair.stream()
    sent = [f"line {n}" for n in range(40)]

    async def scenario() -> None:
        async with connect(pair.b) as socket:
            await subscribe(socket, stream_id, ["chat", "stream"])
            # A burst straight into the log, from many viewers (one viewer this fast would trip
            # moderation's flood rule); the HTTP path is covered above.
            burst = [
                new_event(
                    "livefold.chat.MessageSent", stream_id=stream_id, actor_id=f"viewer-{n}",
                    message_id=f"burst-{n}", text=text, reply_to=None, emotes=[], badges=[],
                )
                for n, text in enumerate(sent)
            ]  # fmt: skip
            settings = pair.tokens.settings
            producer = EventProducer(settings, Codec.from_settings(settings))
            await asyncio.to_thread(producer.append_all, burst)
            producer.close()
            texts, frames, _ = await collect_texts(socket, len(sent))
            assert texts == sent
            assert frames < len(sent)

    asyncio.run(scenario())


def test_a_client_resumes_on_the_other_gateway_with_exactly_what_it_missed(pair: Pair) -> None:
    stream_id = pair.stream()

    async def scenario() -> None:
        async with connect(pair.a) as socket:
            await subscribe(socket, stream_id, ["chat"])
            pair.say(stream_id, "before")
            _, _, cursor = await collect_texts(socket, 1)
        for text in ("missed 1", "missed 2", "missed 3"):
            pair.say(stream_id, text)
        await asyncio.sleep(0.5)  # let the relay fold them while nobody listens
        async with connect(pair.b) as socket:
            (snapshot,) = await subscribe(socket, stream_id, ["chat"], {"chat": cursor})
            assert snapshot["resumed"] and snapshot["complete"]
            missed = [n["value"]["text"] for n in snapshot["notices"] if n["kind"] == "message"]
            if len(missed) < 3:  # folded after we resubscribed: the rest comes live
                more, _, _ = await collect_texts(socket, 3 - len(missed))
                missed += more
            assert missed == ["missed 1", "missed 2", "missed 3"]
            pair.say(stream_id, "live again")
            texts, _, _ = await collect_texts(socket, 1)
            assert texts == ["live again"]

    asyncio.run(scenario())


def test_expired_and_forged_tokens_close_the_socket_with_4401_and_the_reason(
    pair: Pair, tmp_path: Any
) -> None:
    expired = pair.tokens.token(VIEWER, now=time.time() - 3600)
    forged = Tokens(pair.a.settings.model_copy(update={"data_dir": tmp_path})).token(VIEWER)

    async def closed_with(query: str = "", first: dict[str, Any] | None = None) -> Any:
        async with connect(pair.a, query) as socket:
            if first is not None:
                await socket.recv()  # welcome
                await socket.send(json.dumps(first))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await socket.recv()
            return closed.value.rcvd

    async def scenario() -> None:
        refusal = await closed_with(f"access_token={expired}")
        assert (refusal.code, refusal.reason) == (4401, "token expired")
        refusal = await closed_with(first={"op": "auth", "token": forged})
        assert refusal.code == 4401 and "invalid token" in refusal.reason
        async with connect(pair.a) as socket:
            await socket.recv()
            await socket.send(json.dumps({"op": "auth", "token": pair.tokens.token(VIEWER)}))
            assert json.loads(await socket.recv()) == {"type": "authenticated", "user": VIEWER}

    asyncio.run(scenario())


def test_bad_frames_close_with_4400_and_pings_get_pongs(pair: Pair) -> None:
    async def refusal(frame: str) -> Any:
        async with connect(pair.b) as socket:
            await socket.recv()
            await socket.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await socket.recv()
            return closed.value.rcvd

    async def scenario() -> None:
        for frame, words in [
            ("not json", "not JSON"),
            ('{"op": "dance"}', "unknown op"),
            ('{"op": "subscribe", "stream": "s", "channels": ["gossip"]}', "channels"),
            ('{"op": "subscribe", "stream": "s", "channels": ["chat"], "cursors": {"chat": "x"}}',
             "cursor"),
        ]:  # fmt: skip
            closed = await refusal(frame)
            assert closed.code == 4400 and words in closed.reason, closed.reason
        async with connect(pair.b) as socket:
            await socket.recv()
            await socket.send(json.dumps({"op": "ping", "id": 7}))
            assert json.loads(await socket.recv()) == {"type": "pong", "id": 7}

    asyncio.run(scenario())


def test_only_the_streams_moderators_subscribe_to_its_moderation_queue(pair: Pair) -> None:
    mine, theirs = pair.stream(), pair.stream()
    pair.post(pair.a, f"/streams/{mine}/moderators", STREAMER, {"user_id": MOD})
    deadline = time.monotonic() + 15
    staff = f"{pair.b.url}/api/v1/streams/{mine}/moderators"
    while MOD not in httpx.get(staff, headers=pair.tokens.headers(STREAMER)).json()["moderators"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    async def answer(user: str, stream_id: str) -> dict[str, Any]:
        async with connect(pair.b, f"access_token={pair.tokens.token(user)}") as socket:
            await socket.recv()
            frame = {"op": "subscribe", "stream": stream_id, "channels": ["moderation"]}
            await socket.send(json.dumps(frame))
            answered: dict[str, Any] = json.loads(await socket.recv())
            return answered

    async def scenario() -> None:
        assert (await answer(VIEWER, mine))["type"] == "error"
        refused = await answer(MOD, theirs)
        assert refused["type"] == "error" and "moderators" in refused["reason"]
        assert (await answer(MOD, mine))["type"] == "snapshot"

    asyncio.run(scenario())


def test_a_client_that_stops_reading_is_dropped_with_4408(stack: Settings) -> None:
    settings = stack.model_copy(update={"gateway_ws_send_buffer_bytes": 65_536})
    stream_id = "slow-stream"
    producer = EventProducer(settings, Codec.from_settings(settings))
    filler = {"message_id": "m", "author": "a", "text": "x" * 60_000, "at": 0}
    with gateway(settings, "gateway-slow") as running:

        async def scenario() -> None:
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.connect((settings.host, running.settings.gateway_port))
            async with connect(running, sock=raw, max_queue=1) as client:
                await client.recv()
                await client.send(
                    json.dumps({"op": "subscribe", "stream": stream_id, "channels": ["chat"]})
                )
                await client.recv()
                for _ in range(40):  # 12 MB in many frames, while the client reads nothing
                    for _ in range(5):
                        record = to_record(Notice("chat", stream_id, "message", filler))
                        producer.append_raw(record.topic, record.key, record.value)
                    await asyncio.to_thread(producer.flush, 30)
                    await asyncio.sleep(0.1)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:  # now read: what the socket held, then the close frame
                        await client.recv()
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                    4408,
                    "too slow: the send buffer is full",
                )

        asyncio.run(asyncio.wait_for(scenario(), 60))
        metrics = httpx.get(f"{running.url}/metrics").text
        assert 'livefold_gateway_ws_dropped_total{reason="slow"} 1.0' in metrics
    producer.close()
