"""The gateway that accepted a stream's creation knows the stream and its owner at once: its
creator's next writes (chat, a poll) are accepted before the stream's view comes back from the
folds. No fold worker runs here, so the view never comes: only the creating gateway knows."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livefold.settings import Settings
from tests.gateways import Running, Tokens, gateway

STREAMER, VIEWER = "streamer-nia", "viewer-oli"


@pytest.fixture(scope="module")
def pair(stack: Settings) -> Iterator[tuple[Running, Running, Tokens]]:
    with gateway(stack, "gateway-new-a") as a, gateway(stack, "gateway-new-b") as b:
        yield a, b, Tokens(stack)


def test_writes_right_after_creating_a_stream_are_accepted_by_the_gateway_that_created_it(
    pair: tuple[Running, Running, Tokens],
) -> None:
    a, b, tokens = pair
    api = f"{a.url}/api/v1"
    streamer = tokens.headers(STREAMER, {"streamer"})
    created = httpx.post(f"{api}/streams", json={"title": "Now", "category": "Talk"},
                         headers=streamer)  # fmt: skip
    assert created.status_code == 202, created.text
    stream_id = created.json()["stream_id"]
    chat = httpx.post(f"{api}/streams/{stream_id}/chat", json={"text": "first!"},
                      headers=tokens.headers(VIEWER))  # fmt: skip
    assert chat.status_code == 202, chat.text
    poll = {"question": "Which?", "options": [{"option_id": "x", "text": "X"},
            {"option_id": "y", "text": "Y"}], "duration_seconds": 60}  # fmt: skip
    opened = httpx.post(f"{api}/streams/{stream_id}/polls", json=poll, headers=streamer)
    assert opened.status_code == 202, opened.text
    # Another gateway learns of the stream from the folds only (none run here).
    elsewhere = httpx.post(f"{b.url}/api/v1/streams/{stream_id}/chat", json={"text": "hi"},
                           headers=tokens.headers(VIEWER))  # fmt: skip
    assert elsewhere.status_code == 404
