"""Every text others see passes moderation, and a ban covers every write: through two real
gateway processes and the real fold worker, a tip's message reaches the viewers' alert only
once moderation allowed it and a clip is listed only once its title passed; a banned, timed-out
or blocked user's writes (chat, reactions, votes, answers, tips, clips, guest requests) are
refused with 403 and the reason, over HTTP and over the socket, while taking back one's own
(deleting one's message, unfollowing) stays possible and an unban lifts it all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livefold import tips
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import new_event
from streams.producer import EventProducer
from tests.gateways import (
    STREAMER,
    VIEWER,
    Pair,
    Tokens,
    answer_to,
    connect,
    eventually,
    gateway,
    next_frame,
    recorded,
    send_frame,
    signed_in,
    subscribe,
)

TROLL, LATE = "viewer-troll", "viewer-late"


@pytest.fixture(scope="module")
def pair(folded: Settings) -> Iterator[Pair]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 500.0})
    with gateway(settings) as a, gateway(settings, "gateway-b") as b:
        yield Pair(a, b, Tokens(settings))


def write(pair: Pair, user: str, method: str, path: str, body: Any = None) -> httpx.Response:
    roles = {"streamer"} if user == STREAMER else {"viewer"}
    return httpx.request(
        method,
        f"{pair.b.url}/api/v1{path}",
        json=body or {},
        headers=pair.tokens.headers(user, roles),
    )


def block_term(pair: Pair, stream_id: str, term: str) -> None:
    pair.post(pair.a, f"/streams/{stream_id}/moderation/blocked-terms", STREAMER,
              {"term": term, "match": "word"})  # fmt: skip


def test_a_tip_message_reaches_viewers_only_once_moderation_allowed_it(pair: Pair) -> None:
    stream_id = pair.stream()
    block_term(pair, stream_id, "scam")
    settings = pair.tokens.settings
    producer = EventProducer(settings, Codec.from_settings(settings))

    def tip(key: str, message: str) -> str:
        body = {"amount_minor": 500, "currency": "EUR", "message": message}
        answer = httpx.post(
            f"{pair.a.url}/api/v1/streams/{stream_id}/tips",
            json=body,
            headers={**pair.tokens.headers(VIEWER), "Idempotency-Key": key},
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["tip_id"])

    def capture(tip_id: str, key: str) -> None:
        """What the payment provider's webhook appends once the money is in."""
        captured = new_event(
            tips.TIP_CAPTURED, stream_id=stream_id, actor_id="system", tip_id=tip_id,
            amount_minor=500, currency="EUR", provider_reference=None, idempotency_key=key,
        )  # fmt: skip
        producer.append(captured).result(30)

    async def scenario() -> None:
        async with connect(pair.b) as anonymous:
            await anonymous.recv()
            await subscribe(anonymous, stream_id, ["tips"])
            time.sleep(1.0)  # the blocked term is folded before the tips
            for key, message in [("tip-kind", "great run"), ("tip-scam", "free scam link")]:
                capture(tip(key, message), key)
            alerts: list[Any] = []
            while len(alerts) < 2:
                frame = await next_frame(anonymous, lambda f: f["type"] == "batch")
                alerts += [n["value"] for n in frame["notices"] if n["kind"] == "alert"]
            assert sorted(str(a["message"]) for a in alerts) == ["None", "great run"]
            assert {a["amount_minor"] for a in alerts} == {500}  # the money shows either way

    try:
        asyncio.run(scenario())
    finally:
        producer.close()


def test_a_clip_is_listed_only_once_its_title_passed_moderation(pair: Pair) -> None:
    stream_id = pair.stream()
    recorded(pair.tokens.settings, stream_id, pair.b.url)
    block_term(pair, stream_id, "scam")
    time.sleep(1.0)  # folded before the clips
    for title in ("the jump", "free scam link", "the fall"):
        body = {"start_offset_ms": 0, "end_offset_ms": 10_000, "title": title}
        answer = write(pair, VIEWER, "POST", f"/streams/{stream_id}/clips", body)
        assert answer.status_code == 202, answer.text
    listing = f"{pair.a.url}/api/v1/streams/{stream_id}/clips"

    def titles() -> list[str]:
        return sorted(clip["title"] for clip in httpx.get(listing).json()["items"])

    def both_allowed() -> list[str] | None:
        found = titles()
        return found if len(found) == 2 else None

    assert eventually(both_allowed) == ["the fall", "the jump"]
    time.sleep(1.0)
    assert titles() == ["the fall", "the jump"]  # the blocked one never comes


def test_a_ban_covers_every_write_over_http_and_the_socket_until_lifted(pair: Pair) -> None:
    stream_id = pair.stream()
    message_id = pair.say(stream_id, "before the ban", TROLL)
    assert write(pair, TROLL, "PUT", f"/streams/{stream_id}/follow").status_code == 202
    moderation = f"/streams/{stream_id}/moderation"
    pair.post(pair.a, moderation + "/bans", STREAMER, {"user_id": TROLL, "reason": "abuse"})
    until = int((time.time() + 600) * 1000)
    pair.post(pair.a, moderation + "/timeouts", STREAMER, {"user_id": LATE, "until": until})
    writes = [
        ("POST", f"/streams/{stream_id}/chat", {"text": "hi"}),
        ("POST", f"/streams/{stream_id}/reactions", {"kind": "fire"}),
        ("POST", f"/streams/{stream_id}/polls/p1/votes", {"option_ids": ["a"]}),
        ("POST", f"/streams/{stream_id}/quizzes/q/questions/q1/answers", {"option_id": "a"}),
        ("POST", f"/streams/{stream_id}/tips", {"amount_minor": 100, "currency": "EUR"}),
        ("POST", f"/streams/{stream_id}/clips",
         {"start_offset_ms": 0, "end_offset_ms": 1000, "title": "mine"}),
        ("POST", f"/streams/{stream_id}/guests/inv-1/accept", {}),
        ("POST", f"/streams/{stream_id}/chat/{message_id}/flags", {"reason": "spam"}),
    ]  # fmt: skip
    for user in (TROLL, LATE):  # once the ban and the timeout reached gateway B
        eventually(lambda: write(pair, user, *writes[0]).status_code == 403)  # noqa: B023
    for method, path, body in writes:
        for user, why in ((TROLL, "banned"), (LATE, "timed out")):
            answer = write(pair, user, method, path, body)
            assert answer.status_code == 403 and why in answer.json()["reason"], (path, answer.text)
    # Taking back one's own stays possible.
    assert write(pair, TROLL, "DELETE", f"/streams/{stream_id}/follow").status_code == 202
    deleted = write(pair, TROLL, "DELETE", f"/streams/{stream_id}/chat/{message_id}")
    assert deleted.status_code == 202, deleted.text

    async def over_the_socket() -> None:
        async with await signed_in(pair.b, pair.tokens, TROLL) as socket:
            for n, name in enumerate(("chat.send", "reactions.send")):
                body = {"text": "hi"} if name == "chat.send" else {"kind": "fire"}
                await socket.send(send_frame(f"w{n}", name, stream_id, body))
                answer = await answer_to(socket, f"w{n}")
                assert (answer["type"], answer["status"]) == ("error", 403), answer
                assert "banned" in answer["reason"]

    asyncio.run(over_the_socket())
    lifted = httpx.delete(
        f"{pair.a.url}/api/v1{moderation}/bans/{TROLL}",
        headers=pair.tokens.headers(STREAMER, {"streamer"}),
    )
    assert lifted.status_code == 202, lifted.text
    eventually(lambda: write(pair, TROLL, "POST", f"/streams/{stream_id}/reactions",
                             {"kind": "fire"}).status_code == 202)  # fmt: skip
