"""Chat scroll-back through real processes (the fold worker, the analytics sink, a gateway): a
chat longer than the newest 200 the gateway keeps, with a message moderation blocks and one a
moderator deletes, is paged back from the log's copy in ClickHouse to its first message; each
shown message comes once, in the live chat's order and as the live chat shows it, and the
blocked and deleted ones never."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from livefold_sdk import Livefold

from livefold.settings import Settings
from tests.analytics_support import Sink
from tests.gateways import Running, Tokens, eventually, gateway

STREAMER = "streamer-scrollback"
CHATTERS = [f"chatter-scrollback-{n}" for n in range(26)]  # ten messages each: no rate limit
SENT = 260
TOXIC = "kys, nobody wants you here"  # moderation blocks it
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(folded: Settings) -> Iterator[tuple[Running, Tokens]]:
    settings = folded.model_copy(update={"gateway_user_writes_per_second": 100.0})
    sink = Sink(settings)
    with gateway(settings, "gateway-scrollback") as running:
        sink.start()
        try:
            yield running, Tokens(settings)
        finally:
            sink.stop()


def call(
    running: Running, tokens: Tokens, method: str, path: str, user: str, **options: Any
) -> Any:
    roles = {"streamer"} if user == STREAMER else {"viewer"}
    answer = httpx.request(
        method, f"{running.url}/api/v1{path}", headers=tokens.headers(user, roles), **options
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def history(running: Running, stream_id: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{running.url}/api/v1/streams/{stream_id}/chat/history", params=params)


def paged_back(running: Running, stream_id: str, limit: int) -> list[dict[str, Any]]:
    """Every page back from the newest, joined oldest first."""
    pages: list[list[dict[str, Any]]] = []
    before = None
    while True:
        answer = history(running, stream_id, limit=limit, **({"before": before} if before else {}))
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages.insert(0, page["messages"])
        before = page["next_cursor"]
        if before is None:
            return [message for page in pages for message in page]


def test_the_whole_chat_pages_back_past_what_the_gateway_keeps(
    services: tuple[Running, Tokens],
) -> None:
    running, tokens = services
    body = {"title": "Scroll-back", "category": "Just Chatting"}
    stream_id = call(running, tokens, "POST", "/streams", STREAMER, json=body)["stream_id"]
    eventually(lambda: httpx.get(f"{running.url}/api/v1/streams/{stream_id}").status_code == 200)
    texts = [f"line {n} of a long chat" for n in range(SENT)]
    texts[5] = TOXIC
    ids = []
    with httpx.Client(base_url=f"{running.url}/api/v1") as client:
        for n, text in enumerate(texts):
            user = CHATTERS[n % len(CHATTERS)]
            said = client.post(
                f"/streams/{stream_id}/chat", json={"text": text}, headers=tokens.headers(user)
            )
            assert said.status_code == 202, said.text
            ids.append(said.json()["message_id"])
    # Far older than the newest 200: only the log's copy still has it.
    call(running, tokens, "DELETE", f"/streams/{stream_id}/chat/{ids[12]}", STREAMER)
    shown = [text for n, text in enumerate(texts) if n not in (5, 12)]

    def whole_chat() -> list[dict[str, Any]] | None:
        messages = paged_back(running, stream_id, limit=70)
        return messages if [m["text"] for m in messages] == shown else None

    messages = eventually(whole_chat, timeout=120)  # once the sink stored verdicts and deletion
    positions = [(m["at"], m["message_id"]) for m in messages]
    assert positions == sorted(set(positions))  # each once, in the live chat's order
    assert [m["message_id"] for m in messages] == [ids[n] for n in range(SENT) if n not in (5, 12)]
    assert {m["author"] for m in messages} == set(CHATTERS)

    # The newest page is the live chat's own messages, exactly.
    recent = httpx.get(f"{running.url}/api/v1/streams/{stream_id}/chat", params={"limit": 200})
    newest = history(running, stream_id, limit=200).json()
    assert newest["messages"] == recent.json()["items"] == messages[-200:]
    assert newest["next_cursor"] is not None
    # Any message's position is a cursor: the page before it ends right below it.
    page = history(running, stream_id, before=f"{positions[100][0]}:{positions[100][1]}", limit=3)
    assert page.json()["messages"] == messages[97:100]
    assert paged_back(running, stream_id, limit=200) == messages
    with Livefold(running.url) as sdk:  # the SDK's call is this read
        assert sdk.chat_scrollback(stream_id, limit=200) == newest
        oldest = sdk.chat_scrollback(stream_id, before=f"{positions[2][0]}:{positions[2][1]}")
        assert oldest == {"messages": messages[:2], "next_cursor": None}

    for params, field in (
        ({"before": "yesterday"}, "before"),
        ({"before": "12"}, "before"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
    ):
        refused = history(running, stream_id, **params)
        assert refused.status_code == 422, (params, refused.text)  # as every read's query
        assert field in refused.text
    assert history(running, "no-such-stream").status_code == 404
