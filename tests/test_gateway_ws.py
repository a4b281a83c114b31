"""The `/ws` fan-out through two real gateway processes: a chat message sent through gateway A
reaches a subscriber on gateway B, batched; a client resumes where it left off on the other
gateway; auth failures, bad frames and slow clients get a close code and reason. Writes over
the socket: acked once in Kafka, idempotent by frame id across gateways, refused with the HTTP
route's status and fields; what a fold rejects later reaches its author's sockets only. A
signed-in socket lives as long as its token: warned before `exp`, closed at it unless refreshed
with a token for the same user (rights it loses sooner: tests/test_gateway_ws_rights.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate

from livefold.folding import Notice
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import new_event
from streams.producer import EventProducer
from streams.state import StateWriter
from tests.gateways import (
    MOD,
    STREAMER,
    VIEWER,
    Pair,
    Running,
    Tokens,
    answer_to,
    auth_frame,
    chat_texts,
    close_of,
    connect,
    expires_at,
    gateway,
    metrics_of,
    next_frame,
    send_frame,
    signed_in,
    subscribe,
    ws_url,
)

EXPIRED_CLOSE = 3.0  # seconds an expired, unrefreshed socket stays open (writes refused)


@pytest.fixture(scope="module")
def pair(folded: Settings) -> Iterator[Pair]:
    settings = folded.model_copy(
        update={
            "gateway_user_writes_per_second": 500.0,
            "gateway_ws_expired_close_seconds": EXPIRED_CLOSE,
        }
    )
    with gateway(settings) as a, gateway(settings, "gateway-b") as b:
        yield Pair(a, b, Tokens(settings))


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
            token = pair.tokens.token(VIEWER)
            await socket.send(json.dumps({"op": "auth", "token": token}))
            assert json.loads(await socket.recv()) == {
                "type": "authenticated",
                "user": VIEWER,
                "expires_at": expires_at(token),
            }

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
    states = StateWriter.registered(producer.codec)
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
                        record = states.record(Notice("chat", stream_id, "message", filler))
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
        metrics = metrics_of(running)
        assert 'livefold_gateway_ws_dropped_total{reason="slow"} 1.0' in metrics
    producer.close()


# ------------------------------------------------------------ writes over the socket


def test_a_chat_message_sent_over_a_socket_is_acked_and_reaches_a_subscriber_elsewhere(
    pair: Pair,
) -> None:
    stream_id = pair.stream()

    async def scenario() -> None:
        async with connect(pair.b) as watcher, await signed_in(pair.a, pair.tokens, VIEWER) as me:
            await watcher.recv()
            await subscribe(watcher, stream_id, ["chat"])
            text = {"text": "hi over the socket"}
            await me.send(send_frame("hi-1", "chat.send", stream_id, text))
            ack = await answer_to(me, "hi-1")
            assert ack["type"] == "ack" and ack["message_id"] == ack["event_id"], ack
            frame = await next_frame(watcher, lambda f: f["type"] == "batch" and f["notices"])
            (message,) = [n["value"] for n in frame["notices"] if n["kind"] == "message"]
            assert (message["text"], message["author"]) == ("hi over the socket", VIEWER)
            assert message["message_id"] == ack["message_id"]

    asyncio.run(scenario())


def test_a_resent_frame_makes_the_same_event_on_any_gateway_and_one_message(pair: Pair) -> None:
    stream_id = pair.stream()
    frame = send_frame("said-once", "chat.send", stream_id, {"text": "resent"})

    async def scenario() -> None:
        async with connect(pair.b) as watcher:
            await watcher.recv()
            await subscribe(watcher, stream_id, ["chat"])
            async with await signed_in(pair.a, pair.tokens, VIEWER) as first:
                await first.send(frame)
                sent = await answer_to(first, "said-once")
                await first.send(frame)  # an ack lost, the frame sent again on the same socket
                again = await answer_to(first, "said-once")
                assert again == {**sent, "replay": True}
                other = send_frame("said-once", "chat.send", stream_id, {"text": "changed"})
                await first.send(other)
                conflict = await answer_to(first, "said-once")
                assert (conflict["status"], conflict["error"]) == (409, "idempotency_conflict")
            async with await signed_in(pair.b, pair.tokens, VIEWER) as reconnected:
                await reconnected.send(frame)  # after a reconnect, to the other gateway
                elsewhere = await answer_to(reconnected, "said-once")
                assert elsewhere["type"] == "ack" and elsewhere["event_id"] == sent["event_id"]
            pair.say(stream_id, "afterwards")
            texts, _, _ = await collect_texts(watcher, 2)
            assert texts == ["resent", "afterwards"]

    asyncio.run(scenario())


def test_a_refused_write_gets_an_error_frame_with_fields_and_the_socket_stays_open(
    pair: Pair,
) -> None:
    stream_id = pair.stream()

    async def scenario() -> None:
        async with await signed_in(pair.a, pair.tokens, VIEWER) as me:
            cases: list[tuple[str, dict[str, Any], str, int, str]] = [
                ("chat.send", {"text": ""}, stream_id, 422, "text"),
                ("chat.send", {"text": "hi", "message_id": "mine"}, stream_id, 422, "message_id"),
                ("polls.vote", {"option_ids": ["a"]}, stream_id, 422, "poll_id"),
                ("reactions.send", {"kind": "meh"}, stream_id, 422, "kind"),
                ("chat.send", {"text": "hi"}, "no-such-stream", 404, ""),
            ]
            for n, (write, body, stream, status, field) in enumerate(cases):
                await me.send(send_frame(f"bad-{n}", write, stream, body))
                refused = await answer_to(me, f"bad-{n}")
                assert (refused["type"], refused["status"]) == ("error", status), refused
                assert refused["reason"] and refused["op"] == "send"
                assert [f["field"] for f in refused["fields"]] == ([field] if field else [])
            await me.send(json.dumps({"op": "ping", "id": "still-open"}))
            assert (await next_frame(me, lambda f: f["type"] == "pong"))["id"] == "still-open"
            await me.send(send_frame("good", "reactions.send", stream_id, {"kind": "fire"}))
            assert (await answer_to(me, "good"))["type"] == "ack"
        async with connect(pair.a) as anonymous:
            await anonymous.recv()
            await anonymous.send(send_frame("anon", "chat.send", stream_id, {"text": "hi"}))
            refused = await answer_to(anonymous, "anon")
            assert (refused["status"], refused["error"]) == (401, "unauthorized")
            await anonymous.send(json.dumps({"op": "ping", "id": 1}))
            assert (await next_frame(anonymous, lambda f: f["type"] == "pong"))["id"] == 1

    asyncio.run(scenario())


def test_malformed_send_frames_close_with_4400(pair: Pair) -> None:
    async def refusal(frame: dict[str, Any]) -> Any:
        async with await signed_in(pair.a, pair.tokens, VIEWER) as socket:
            await socket.send(json.dumps(frame))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await socket.recv()
            return closed.value.rcvd

    async def scenario() -> None:
        write = {"op": "send", "id": "r", "write": "chat.send", "stream": "s", "body": {}}
        changes: list[tuple[dict[str, Any], str]] = [
            ({"id": None}, '"id"'),
            ({"id": "x" * 200}, '"id"'),
            ({"write": "chat.shout"}, '"write"'),
            ({"stream": 7}, '"stream"'),
        ]
        for change, words in changes:
            closed = await refusal({**write, **change})
            assert closed.code == 4400 and words in closed.reason, closed.reason

    asyncio.run(scenario())


def test_a_vote_after_the_poll_closed_is_rejected_to_the_voters_sockets_only(pair: Pair) -> None:
    stream_id = pair.stream()
    poll = {"question": "Next boss?", "options": [{"option_id": "a", "text": "Margit"},
            {"option_id": "b", "text": "Godrick"}], "duration_seconds": 600}  # fmt: skip
    poll_id = pair.post(pair.a, f"/streams/{stream_id}/polls", STREAMER, poll)["poll_id"]
    pair.post(pair.a, f"/streams/{stream_id}/polls/{poll_id}/open", STREAMER)
    pair.post(pair.a, f"/streams/{stream_id}/polls/{poll_id}/close", STREAMER)

    async def scenario() -> None:
        async with (
            await signed_in(pair.a, pair.tokens, VIEWER) as voter,
            await signed_in(pair.b, pair.tokens, VIEWER) as voters_other_tab,
            await signed_in(pair.b, pair.tokens, "viewer-hal") as bystander,
        ):
            await subscribe(bystander, stream_id, ["polls"])  # watching the poll is not enough
            vote = {"poll_id": poll_id, "option_ids": ["a"]}
            await voter.send(send_frame("late-vote", "polls.vote", stream_id, vote))
            ack = await answer_to(voter, "late-vote")
            assert ack["type"] == "ack", ack  # accepted into the log; the fold decides
            for socket in (voter, voters_other_tab):
                rejected = await next_frame(socket, lambda f: f["type"] == "rejected")
                assert rejected["event_id"] == ack["event_id"]
                assert (rejected["channel"], rejected["stream"]) == ("polls", stream_id)
                assert rejected["event_type"] == "livefold.polls.VoteCast"
                assert "closed" in rejected["reason"]
            with pytest.raises(TimeoutError):
                await next_frame(bystander, lambda f: f["type"] == "rejected", timeout=1.5)

    asyncio.run(scenario())


def test_a_second_quiz_answer_over_the_socket_is_rejected_to_its_author(pair: Pair) -> None:
    stream_id = pair.stream()
    question = {"question": "2+2?", "options": [{"option_id": "x", "text": "4"},
                {"option_id": "y", "text": "5"}], "correct_option": "x", "points": 10,
                "time_limit_seconds": 60}  # fmt: skip
    path = f"/streams/{stream_id}/quizzes/q1/questions"
    question_id = pair.post(pair.a, path, STREAMER, question)["question_id"]

    async def scenario() -> None:
        async with await signed_in(pair.b, pair.tokens, VIEWER) as player:
            answers = []
            for ref, option in (("first", "x"), ("second", "y")):
                body = {"quiz_id": "q1", "question_id": question_id, "option_id": option}
                await player.send(send_frame(ref, "quizzes.answer", stream_id, body))
                answers.append(await answer_to(player, ref))
            assert [a["type"] for a in answers] == ["ack", "ack"], answers
            rejected = await next_frame(player, lambda f: f["type"] == "rejected")
            assert rejected["event_id"] == answers[1]["event_id"]
            assert (rejected["channel"], rejected["reason"]) == (
                "quiz",
                "only the first answer to a question counts",
            )

    asyncio.run(scenario())


# ------------------------------------------------------------ the token's lifetime


def test_a_socket_hears_its_token_is_expiring_then_is_closed_with_4401(pair: Pair) -> None:
    stream_id = pair.stream()
    token = pair.tokens.token(VIEWER, ttl_seconds=3)

    async def scenario() -> None:
        async with connect(pair.a, f"access_token={token}") as socket:
            welcome = json.loads(await socket.recv())
            assert (welcome["user"], welcome["expires_at"]) == (VIEWER, expires_at(token))
            await subscribe(socket, stream_id, ["chat"])
            expiring = await next_frame(socket, lambda f: f["type"] == "expiring")
            # Sent a quarter of what the token had left (2..3 s) before it ends (at most 30 s).
            assert 0 < expiring["in_ms"] <= 750, expiring
            close, when = await close_of(socket)
            assert (close.code, close.reason) == (4401, "token expired")
            assert when >= expires_at(token) + EXPIRED_CLOSE - 0.05

    asyncio.run(scenario())
    metrics = metrics_of(pair.a)
    assert 'livefold_gateway_ws_dropped_total{reason="expired"}' in metrics


def test_a_refreshed_socket_outlives_its_first_token_with_its_subscriptions(pair: Pair) -> None:
    stream_id = pair.stream()
    first = pair.tokens.token(VIEWER, ttl_seconds=3)

    async def scenario() -> None:
        async with connect(pair.b, f"access_token={first}") as socket:
            await socket.recv()
            await subscribe(socket, stream_id, ["chat"])
            await next_frame(socket, lambda f: f["type"] == "expiring")
            fresh = pair.tokens.token(VIEWER, ttl_seconds=600)
            await socket.send(auth_frame(fresh))
            answer = await next_frame(socket, lambda f: f["type"] == "authenticated")
            assert answer == {
                "type": "authenticated",
                "user": VIEWER,
                "expires_at": expires_at(fresh),
            }
            await asyncio.sleep(expires_at(first) + EXPIRED_CLOSE + 1 - time.time())
            pair.say(stream_id, "still here")
            texts, _, _ = await collect_texts(socket, 1)
            assert texts == ["still here"]
            await socket.send(send_frame("after-first-exp", "chat.send", stream_id, {"text": "me"}))
            assert (await answer_to(socket, "after-first-exp"))["type"] == "ack"

    asyncio.run(scenario())


def test_a_refresh_for_another_user_is_refused_and_a_bad_one_closes_with_4401(
    pair: Pair,
) -> None:
    stream_id = pair.stream()

    async def scenario() -> None:
        async with await signed_in(pair.a, pair.tokens, VIEWER) as socket:
            await subscribe(socket, stream_id, ["chat"])
            await socket.send(auth_frame(pair.tokens.token("viewer-ivy")))
            refused = await next_frame(socket, lambda f: f["type"] == "error")
            assert refused["op"] == "auth" and "another user" in refused["reason"], refused
            await socket.send(send_frame("still-fay", "chat.send", stream_id, {"text": "mine"}))
            assert (await answer_to(socket, "still-fay"))["type"] == "ack"
            texts: list[tuple[str, str]] = []
            while not texts:  # the socket still follows chat, and still writes as VIEWER
                frame = await next_frame(socket, lambda f: f["type"] == "batch")
                texts += [
                    (n["value"]["text"], n["value"]["author"])
                    for n in frame["notices"]
                    if n["kind"] == "message"
                ]
            assert texts == [("mine", VIEWER)]
            expired = pair.tokens.token(VIEWER, now=time.time() - 3600)
            await socket.send(auth_frame(expired))
            close, _ = await close_of(socket)
            assert (close.code, close.reason) == (4401, "token expired")

    asyncio.run(scenario())


def test_writes_after_the_token_expired_get_401_until_the_socket_closes(pair: Pair) -> None:
    stream_id = pair.stream()
    token = pair.tokens.token(VIEWER, ttl_seconds=2)

    async def scenario() -> None:
        async with connect(pair.a, f"access_token={token}") as socket:
            await socket.recv()
            await next_frame(socket, lambda f: f["type"] == "expiring")
            await asyncio.sleep(max(expires_at(token) + 0.2 - time.time(), 0))
            await socket.send(send_frame("too-late", "chat.send", stream_id, {"text": "late"}))
            refused = await answer_to(socket, "too-late")
            assert (refused["type"], refused["status"]) == ("error", 401), refused
            assert "token expired" in refused["reason"]
            await socket.send(
                json.dumps({"op": "subscribe", "stream": stream_id, "channels": ["moderation"]})
            )
            denied = await next_frame(socket, lambda f: f["type"] == "error")
            assert denied["op"] == "subscribe" and "token expired" in denied["reason"]
            close, _ = await close_of(socket)
            assert (close.code, close.reason) == (4401, "token expired")

    asyncio.run(scenario())


class RawDeflateClient:
    """A socket that offers permessage-deflate and reads frames itself: the test sees the RSV1
    bit and inflates each message with one decompressor kept across messages, as a client
    that keeps its context would (the gateway's messages must not depend on it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.inflater = zlib.decompressobj(-15)

    @classmethod
    async def open(cls, running: Running) -> RawDeflateClient:
        host, port = running.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(b"0123456789abcdef").decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert b" 101 " in head.split(b"\r\n")[0]
        assert b"permessage-deflate" in head and b"server_no_context_takeover" in head
        return cls(reader, writer)

    async def message(self) -> tuple[bool, dict[str, Any]]:
        """(compressed?, document) of the next server message."""
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(await self.reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await self.reader.readexactly(8), "big")
        payload = await self.reader.readexactly(size)
        compressed = bool(first & 0x40)
        if compressed:
            payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
        return compressed, json.loads(payload)

    async def send(self, document: dict[str, Any]) -> None:
        data, mask = json.dumps(document).encode(), b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(bytes((0x81, 0x80 | len(data))) + mask + masked)


def test_frames_go_compressed_once_to_sockets_that_offer_deflate_and_plain_to_others(
    pair: Pair,
) -> None:
    stream_id = pair.stream()
    # lines of growing length, varied enough not to be a spam wall ("la la la ..." is one)
    sent = [f"compressed line {n} " + " ".join(f"la{k}" for k in range(n)) for n in range(30)]

    async def scenario() -> None:
        raw = await RawDeflateClient.open(pair.b)
        async with (
            connect(pair.b) as plain,
            websockets.connect(ws_url(pair.b), compression="deflate") as library,
        ):
            assert any(isinstance(e, PerMessageDeflate) for e in library.protocol.extensions)
            compressed, welcome = await raw.message()
            assert compressed and welcome["type"] == "welcome"
            await raw.send({"op": "subscribe", "stream": stream_id, "channels": ["chat"]})
            await subscribe(plain, stream_id, ["chat"])
            await subscribe(library, stream_id, ["chat"])
            for text in sent:
                pair.say(stream_id, text, user=f"viewer-{len(text)}")
            raw_texts: list[str] = []
            while len(raw_texts) < len(sent):
                compressed, frame = await raw.message()
                assert compressed, frame
                if frame["type"] == "batch":
                    raw_texts += chat_texts(frame)
            plain_texts, _, _ = await collect_texts(plain, len(sent))
            library_texts, _, _ = await collect_texts(library, len(sent))
            assert raw_texts == plain_texts == library_texts == sent
        raw.writer.close()

    asyncio.run(scenario())
