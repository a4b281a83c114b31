"""A browser goes live over WHIP and another page watches over WHEP: Debian's chromium (`make
chromium`) with a fake camera and microphone, driven by web/tests/whip_whep.mjs (playwright-core,
plain RTCPeerConnection and fetch), against a real media service and gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from livefold.settings import Settings
from tests.browsers import run_script
from tests.gateways import Running, Tokens, gateway
from tests.media_peers import STREAMER, eventually_logged, media_process

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(stack: Settings) -> Iterator[tuple[Running, str, Tokens]]:
    with (
        gateway(stack, "gateway-media-browser") as running,
        media_process(stack, media_fanout_processes=1) as (_, media_url),
    ):
        yield running, media_url, Tokens(stack)


def test_a_browser_publishes_over_whip_and_another_page_plays_it_over_whep(
    services: tuple[Running, str, Tokens], stack: Settings
) -> None:
    running, media, tokens = services
    headers = tokens.headers(STREAMER, {"streamer"})
    made = httpx.post(
        f"{running.url}/api/v1/streams",
        json={"title": "From the browser", "category": "irl"},
        headers=headers,
    )
    assert made.status_code == 202, made.text
    stream_id = made.json()["stream_id"]
    key = httpx.post(f"{running.url}/api/v1/stream-key", headers=headers).json()["stream_key"]

    seen = run_script(
        "tests/whip_whep.mjs", 170, MEDIA_URL=media, STREAM_ID=stream_id, STREAM_KEY=key
    )

    assert seen["published"].startswith(f"/whip/{stream_id}/")
    assert seen["watched"].startswith(f"/whep/{stream_id}/")
    assert seen["currentTime"] > seen["start"] + 2  # playing, not one frozen frame
    assert (seen["videoWidth"], seen["videoHeight"]) == (640, 360)
    assert seen["framesDecoded"] > 30 and seen["audioPackets"] > 0
    assert seen["stopped"] == 200
    started = eventually_logged(stack, "media", stream_id, "IngestStarted")
    assert (started.body["width"], started.body["height"]) == (640, 360)
    assert started.body["audio_codec"] == "opus"
    ended = eventually_logged(stack, "stream", stream_id, "Ended")
    assert ended.body["reason"] == "streamer_ended"
