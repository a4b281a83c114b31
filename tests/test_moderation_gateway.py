"""Moderation through real servers (Kafka, fold workers, a gateway): authors hear over their
socket that a message was held for review or blocked, and why; moderators see the rules' own
actions in the mod log and on the moderation channel; text that is unsafe whatever it says is
refused with a 422 naming the reason; a streamer allows swearing but cannot allow threats."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livefold.settings import Settings
from tests.gateways import Running, Tokens, eventually, gateway, next_frame, subscribe
from tests.test_gateway_ws import answer_to, send_frame, signed_in

STREAMER, VIEWER, MOD = "streamer-ivy", "viewer-jon", "mod-kai"


class Site:
    def __init__(self, running: Running, tokens: Tokens):
        self.running, self.tokens = running, tokens

    def call(self, method: str, path: str, user: str, body: Any = None) -> httpx.Response:
        roles = {"streamer"} if user.startswith("streamer") else {"viewer"}
        return httpx.request(method, f"{self.running.url}/api/v1{path}", json=body,
                             headers=self.tokens.headers(user, roles))  # fmt: skip

    def post(self, path: str, user: str, body: Any = None) -> Any:
        answer = self.call("POST", path, user, body or {})
        assert answer.status_code == 202, answer.text
        return answer.json()

    def stream(self) -> str:
        body = {"title": "Boss rush", "category": "Games"}
        stream_id = str(self.post("/streams", STREAMER, body)["stream_id"])
        eventually(lambda: httpx.get(f"{self.running.url}/api/v1/streams/{stream_id}")
                   .status_code == 200)  # fmt: skip
        self.post(f"/streams/{stream_id}/moderators", STREAMER, {"user_id": MOD})
        staff = f"/streams/{stream_id}/moderators"
        eventually(lambda: MOD in self.call("GET", staff, STREAMER).json()["moderators"])
        return stream_id


@pytest.fixture(scope="module")
def site(folded: Settings) -> Iterator[Site]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 500.0})
    with gateway(settings) as running:
        yield Site(running, Tokens(settings))


def test_authors_hear_a_hold_or_a_block_and_moderators_see_both(site: Site) -> None:
    stream_id = site.stream()

    async def scenario() -> None:
        async with (
            await signed_in(site.running, site.tokens, VIEWER) as author,
            await signed_in(site.running, site.tokens, MOD) as moderator,
        ):
            await subscribe(moderator, stream_id, ["moderation"])
            await author.send(send_frame("held", "chat.send", stream_id,
                                         {"text": "you are an idiot"}))  # fmt: skip
            ack = await answer_to(author, "held")
            held = await next_frame(author, lambda f: f["type"] == "held")
            assert held["message_id"] == ack["message_id"] and held["stream"] == stream_id
            assert held["reason"].startswith("held for review")
            await author.send(send_frame("threat", "chat.send", stream_id,
                                         {"text": "i know where you live"}))  # fmt: skip
            ack = await answer_to(author, "threat")
            blocked = await next_frame(author, lambda f: f["type"] == "rejected")
            assert blocked["event_id"] == ack["event_id"]
            assert blocked["event_type"] == "livefold.chat.MessageSent"
            assert "threats" in blocked["reason"]
            notice = await next_frame(
                moderator,
                lambda f: (
                    f["type"] == "batch"
                    and any(n["kind"] == "blocked" for n in f.get("notices", ()))
                ),
            )
            (value,) = [n["value"] for n in notice["notices"] if n["kind"] == "blocked"]
            assert (value["user_id"], value["detail"]) == (VIEWER, "threat")

    asyncio.run(scenario())
    log = f"/streams/{stream_id}/moderation/log"

    def automod() -> list[tuple[str, str, str]]:
        entries = site.call("GET", log, MOD).json()["entries"]
        return [(e["action"], e["rule"], e["detail"]) for e in entries
                if e["moderator"] == "automod"]  # fmt: skip

    assert eventually(lambda: len(automod()) == 2 and automod()) is not None
    assert automod() == [("hold", "toxicity", "insult"), ("block", "toxicity", "threat")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("look \u202eevil\u202c here", "direction control"),
        ("\u200b\u200b\u2060", "invisible"),
        ("\ufdd0\ufdd1", "noncharacter"),
        ("z" + "\u0351\u0357\u035b\u0302\u0303\u0304" * 3 + "algo", "combining marks"),
    ],
)
def test_unsafe_text_is_refused_with_the_reason(site: Site, text: str, reason: str) -> None:
    stream_id = site.stream()
    answer = site.call("POST", f"/streams/{stream_id}/chat", VIEWER, {"text": text})
    assert answer.status_code == 422, answer.text
    (field,) = answer.json()["fields"]
    assert field["field"] == "text" and reason in field["reason"]


def test_a_streamer_allows_swearing_but_not_threats(site: Site) -> None:
    stream_id = site.stream()
    filters = f"/streams/{stream_id}/moderation/filters"
    refused = site.call("PATCH", filters, STREAMER, {"category_levels": {"threat": "off"}})
    assert refused.status_code == 422 and "cannot be turned off" in refused.text
    allowed = site.call("PATCH", filters, STREAMER, {"category_levels": {"profanity": "off"}})
    assert allowed.status_code == 202, allowed.text
    log = f"/streams/{stream_id}/moderation/log"
    eventually(lambda: any(e["action"] == "filter_settings"
                           for e in site.call("GET", log, MOD).json()["entries"]))  # fmt: skip
    for text in ("holy shit that was close", "i will find you and kill you", "gg"):
        site.post(f"/streams/{stream_id}/chat", VIEWER, {"text": text})

    def shown() -> list[str]:
        messages = httpx.get(f"{site.running.url}/api/v1/streams/{stream_id}/chat").json()
        return [m["text"] for m in messages["items"]]

    eventually(lambda: "gg" in shown())
    assert shown() == ["holy shit that was close", "gg"]
