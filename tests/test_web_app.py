"""The viewer app (web/) in a real browser against a live gateway that serves its build: the
node script web/tests/watch.mjs drives Debian's chromium with playwright-core on a phone and a
desktop viewport. The stream, its chat and its poll are made here through the API; in the
browser a viewer finds the stream, sees them, signs in through the gateway's own OAuth page
(code flow with PKCE), chats, votes and reacts; what the browser did is then read back from the
gateway. The screenshots land in docs/screenshots/. `make test` builds the app (`make web`) and
installs chromium (`make chromium`) first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from livefold_sdk import Livefold, NotFound, OAuth, sign_in

from gateway.web_app import BUILD
from livefold.settings import Settings
from tests.gateways import eventually
from tests.sdk_support import PASSWORD, LiveGateway, live_gateway, make_streamer, person_signing_in

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"
SHOTS = REPO / "docs" / "screenshots"
QUESTION = "Which boss do we fight next?"


@pytest.fixture(scope="module")
def live(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    with live_gateway(stack, tmp_path_factory.mktemp("web-app")) as running:
        yield running


def register(url: str, role: str) -> tuple[str, str]:
    username = f"{role}{uuid.uuid4().hex[:8]}"
    with Livefold(url) as anonymous:
        account = anonymous.register(username, PASSWORD, f"The {role}", f"{username}@example.org")
    return str(account["user_id"]), username


def signed_in(live: LiveGateway, username: str) -> Livefold:
    return Livefold(
        live.url, auth=sign_in(OAuth.discover(live.url), person_signing_in(username), timeout=30)
    )


def known(client: Livefold, stream_id: str) -> bool:
    try:
        return bool(client.stream(stream_id))
    except NotFound:
        return False


def poll_open(client: Livefold, stream_id: str, poll_id: str) -> bool:
    try:
        return bool(client.poll(stream_id, poll_id)["status"] == "open")
    except NotFound:
        return False


def go_live(client: Livefold, title: str, category: str, tags: list[str]) -> str:
    stream_id = str(client.create_stream(title, category, tags=tags)["stream_id"])
    eventually(lambda: known(client, stream_id))
    client.go_live(stream_id)
    eventually(lambda: client.stream(stream_id)["status"] == "live")
    return stream_id


def browser(live: LiveGateway, **env: str) -> dict[str, Any]:
    node, chromium = shutil.which("node"), shutil.which("chromium")
    assert node is not None, "node is not on PATH: install Node.js 20 or later"
    assert chromium is not None, "chromium is not on PATH: run `make chromium`"
    done = subprocess.run(
        [node, "tests/watch.mjs"], cwd=WEB, capture_output=True, text=True, timeout=120,
        env={**os.environ, "APP_URL": live.url, "SHOTS": str(SHOTS), "CHROMIUM": chromium, **env},
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"the browser run failed:\n{(done.stdout + done.stderr)[-6000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_gateway_serves_the_app_s_pages_and_api_paths_keep_their_answers(
    live: LiveGateway,
) -> None:
    for page in ("/", "/watch/some-stream", "/auth/callback"):
        answer = httpx.get(f"{live.url}{page}")
        assert answer.status_code == 200, page
        assert answer.headers["content-type"].startswith("text/html")
        assert '<div id="app">' in answer.text
    assert httpx.get(f"{live.url}/manifest.webmanifest").json()["start_url"] == "/"
    assert 'addEventListener("fetch"' in httpx.get(f"{live.url}/sw.js").text
    assert httpx.get(f"{live.url}/assets/nothing-here.js").status_code == 404
    unknown = httpx.get(f"{live.url}/api/v1/nothing-here")
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, "application/json")
    assert httpx.put(f"{live.url}/api/v1/streams").status_code == 405


def test_a_viewer_watches_signs_in_chats_votes_and_reacts_on_phone_and_desktop(
    live: LiveGateway,
) -> None:
    streamer_id, streamer_name = register(live.url, "streamer")
    artist_id, artist_name = register(live.url, "artist")
    _, chatter_name = register(live.url, "chatter")
    _, viewer_name = register(live.url, "viewer")
    make_streamer(live, streamer_id)
    make_streamer(live, artist_id)
    with (
        signed_in(live, streamer_name) as streamer,
        signed_in(live, artist_name) as artist,
        signed_in(live, chatter_name) as chatter,
    ):
        # Other streams on the discover page: two live, one scheduled for tomorrow.
        go_live(artist, "Painting a dragon, start to finish", "Art", ["digital", "chill"])
        go_live(artist, "Lo-fi beats to fold events to", "Music", ["lofi"])
        tomorrow = int((time.time() + 86_400) * 1000)
        streamer.create_stream(
            "Boss rush marathon", "Games", tags=["marathon"], scheduled_start=tomorrow
        )
        stream_id = go_live(streamer, "Speedrun: any% glitchless", "Games", ["speedrun", "english"])
        streamer.send_chat(stream_id, "Welcome in, everyone! Run starts in a minute.")
        chatter.send_chat(stream_id, "Let's go, PB pace today?")
        streamer.send_chat(stream_id, "PB pace if the dragon skip works first try")
        artist.send_chat(stream_id, "dropping by from the art stream, good luck!")
        chatter.send_chat(stream_id, "vote Ember Queen, trust me")
        options = ["The Watcher", "Ember Queen", "Skip it"]
        poll = streamer.create_poll(stream_id, QUESTION, options, duration_seconds=600)
        poll_id = str(poll["poll_id"])
        streamer.open_poll(stream_id, poll_id)
        eventually(lambda: poll_open(streamer, stream_id, poll_id))
        chatter.vote(stream_id, poll_id, "2")
        chatter.react(stream_id, "fire", 3)
        eventually(lambda: streamer.poll(stream_id, poll_id)["voters"] == 1)

        done = browser(
            live, STREAM_ID=stream_id, CHAT_TEXT="PB pace today", POLL_QUESTION=QUESTION,
            USERNAME=viewer_name, PASSWORD=PASSWORD, DISPLAY_NAME="The viewer",
        )  # fmt: skip

        history = [m["text"] for m in streamer.chat_history(stream_id)["items"]]
        assert done["said"] in history
        tally = streamer.poll(stream_id, poll_id)
        assert tally["voters"] == 2
        assert [o["votes"] for o in tally["options"] if o["text"] == done["voted"]] == [1]
        assert streamer.reactions(stream_id)["totals"].get("heart") == 1
    for screen in ("discover", "watch"):
        for device in ("phone", "desktop"):
            assert (SHOTS / f"{screen}-{device}.png").stat().st_size > 10_000
