"""The OBS follow alert names the follower (web/src/overlays), in a real browser: the alerts
overlay (web/tests/overlay_follow.mjs drives Debian's chromium) is open on a stream when a viewer
follows it through the API; the alert shows the viewer's display name. Its picture lands in
docs/screenshots/overlay-follow.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.web_app import BUILD
from livefold.settings import Settings
from tests.browsers import SHOTS, Browser
from tests.gateways import eventually
from tests.sdk_support import LiveGateway, live_gateway, make_streamer
from tests.test_web_app import known, register, signed_in

FOLLOWER = "Fiona Follows"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    with live_gateway(folded, tmp_path_factory.mktemp("web-overlay-follow")) as running:
        yield running


def test_the_follow_alert_names_the_follower(live: LiveGateway) -> None:
    streamer_id, streamer_name = register(live.url, "streamer", "Mia Speedruns")
    make_streamer(live, streamer_id)
    _, follower_name = register(live.url, "viewer", FOLLOWER)
    with signed_in(live, streamer_name) as streamer, signed_in(live, follower_name) as viewer:
        stream_id = str(streamer.create_stream("Follow me", "Games")["stream_id"])
        eventually(lambda: known(streamer, stream_id))
        browser = Browser(
            {"APP_URL": live.url, "STREAM_ID": stream_id}, script="tests/overlay_follow.mjs"
        )
        try:
            browser.next("STEP open")
            viewer.follow(stream_id)
            browser.answer({"name": FOLLOWER})
            done = browser.next("DONE")
        finally:
            if browser.process.poll() is None:
                browser.process.kill()
    assert f"{FOLLOWER} followed!" in done["alert"], done
    assert "1 followed during this stream" in done["alert"], done
    assert (SHOTS / "overlay-follow.png").stat().st_size > 5_000
