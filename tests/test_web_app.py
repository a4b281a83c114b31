"""The viewer app (web/) in a real browser against a live gateway that serves its build and a
real media process with an aiortc publisher: the node script web/tests/viewer.mjs drives Debian's
chromium with playwright-core on a phone, a tablet and a desktop. The streams, their chat (with
a reply, a mention, emotes and a moderator), a poll and a quiz are made here through the API;
in the browser a viewer finds the stream, watches the video play, signs in through the
gateway's own OAuth page (code flow with PKCE), chats, reacts, votes, answers the quiz, is told
their held message is held, tips with a sandbox test card, follows and reports a message;
what the browser did is then read back from the gateway. The screenshots land in
docs/screenshots/. `make test` builds the app (`make web`) and installs chromium first."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from livefold_sdk import Call, Livefold, NotFound, OAuth, sign_in

from agents import analytics
from gateway.web_app import BUILD
from infra.service import RunningService, free_port
from livefold.settings import Settings
from media.aioice_private import host_addresses_only
from tests.browsers import SHOTS, run_script
from tests.gateways import eventually
from tests.media_peers import Publisher, connect, eventually_logged, media_process
from tests.sdk_support import PASSWORD, LiveGateway, live_gateway, make_streamer, person_signing_in
from tests.servers import log_to

QUESTION = "Which boss do we fight next?"
QUIZ = "Which year did the first speedrun of this game happen?"
HELD_TEXT = "you are an idiot"  # moderation holds insults for review


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    media_port = free_port()
    sink = analytics.service(folded)  # the chat replay reads ClickHouse's copy of the log
    with (
        host_addresses_only(["127.0.0.1"]),  # the publisher's ICE, like the media process's
        media_process(folded, media_port=media_port),
        live_gateway(folded.model_copy(update={"media_port": media_port}),
                     tmp_path_factory.mktemp("web-app")) as running,
    ):  # fmt: skip
        handle = RunningService(sink, log_to(folded.data_dir / "logs")(sink))
        handle.start()
        try:
            yield running
        finally:
            handle.stop()


def register(url: str, role: str, display_name: str) -> tuple[str, str]:
    username = f"{role}{uuid.uuid4().hex[:8]}"
    with Livefold(url) as anonymous:
        account = anonymous.register(username, PASSWORD, display_name, f"{username}@example.org")
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


@contextlib.contextmanager
def publishing(whip_url: str, stream_key: str) -> Iterator[None]:
    """An aiortc publisher sending a test pattern over WHIP until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="publisher", daemon=True)
    thread.start()

    async def start() -> Publisher:
        publisher = Publisher()  # aiortc's objects belong to the loop they are made in
        async with httpx.AsyncClient(timeout=30) as http:
            await connect(http, whip_url, publisher, stream_key)
        return publisher

    publisher = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(publisher.peer.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


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


CHATTER_LINES = [
    "first time catching this live, hi all",
    "that route through the sewers is so clean",
    "how many resets today?",
    "the music in this zone slaps",
    "remember when the wall clip was discovered",
    "glad I stayed up for this",
    "can we get a hydration check",
    "this split used to take 40 seconds",
    "chat is cozy tonight",
    "someone clip that jump please",
    "what controller do you use?",
]


def emote(text: str, name: str) -> dict[str, Any]:
    start = text.index(name)  # in code points, as the schema counts (ASCII here)
    return {"name": name, "positions": [{"start": start, "end": start + len(name)}]}


def replayed_messages(client: Livefold, stream_id: str, vod: dict[str, Any]) -> dict[str, int]:
    """Each replayed message's text and its offset (ms) into the recording."""
    said: dict[str, int] = {}
    cursor = None
    for _ in range(20):
        page = client.replay(stream_id, recording_id=vod["recording_id"], cursor=cursor, limit=200)
        for item in page["items"]:
            if item["type"] == "message":
                said.setdefault(item["message"]["text"], item["offset_ms"])
        if not (cursor := page["next_cursor"]):
            break
    return said


def reply_to_the_phone(chatter: Livefold, stream_id: str) -> None:
    """Reply to the phone viewer's first message as soon as it is in chat."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = chatter.chat_history(stream_id, limit=200)["items"]
        theirs = [m for m in items if str(m["text"]).startswith("Hi from my phone")]
        if theirs:
            chatter.send_chat(stream_id, "good luck to you too!", reply_to=theirs[0]["message_id"])
            return
        time.sleep(0.3)


def fill_chat(people: list[Livefold], stream_id: str, lines: int) -> None:
    """Enough earlier chat that the app shows only the newest and loads the rest on scroll."""
    for index in range(lines):
        line = CHATTER_LINES[index % len(CHATTER_LINES)]
        people[index % len(people)].send_chat(stream_id, f"{line} ({index + 1})")


def test_a_viewer_watches_chats_reacts_votes_answers_tips_and_follows_on_three_devices(
    live: LiveGateway,
) -> None:
    streamer_id, streamer_name = register(live.url, "streamer", "Mia Speedruns")
    artist_id, artist_name = register(live.url, "artist", "Ada Paints")
    _, chatter_name = register(live.url, "chatter", "Cyrus")
    mod_id, mod_name = register(live.url, "mod", "Dee the mod")
    _, viewer_name = register(live.url, "viewer", "The viewer")
    make_streamer(live, streamer_id)
    make_streamer(live, artist_id)
    with (
        signed_in(live, streamer_name) as streamer,
        signed_in(live, artist_name) as artist,
        signed_in(live, chatter_name) as chatter,
        signed_in(live, mod_name) as mod,
    ):
        go_live(artist, "Painting a dragon, start to finish", "Art", ["digital", "chill"])
        go_live(artist, "Lo-fi beats to fold events to", "Music", ["lofi"])
        tomorrow = int((time.time() + 86_400) * 1000)
        streamer.create_stream(
            "Boss rush marathon", "Games", tags=["marathon"], scheduled_start=tomorrow
        )
        stream_id = str(
            streamer.create_stream(
                "Speedrun: any% glitchless", "Games", tags=["speedrun", "english"]
            )["stream_id"]
        )
        eventually(lambda: known(streamer, stream_id))
        key = str(streamer.request(Call("POST", "/stream-key"))["stream_key"])
        with publishing(f"{live.settings.media_url}/whip/{stream_id}", key):
            eventually(lambda: streamer.stream(stream_id)["status"] == "live", timeout=30)
            streamer.appoint_moderator(stream_id, mod_id)
            streamer.change_filters(stream_id, rate_limit_messages=500)
            eventually(lambda: mod_id in streamer.moderators(stream_id)["moderators"])
            fill_chat([chatter, artist, mod], stream_id, 64)
            welcome = streamer.send_chat(stream_id, "Welcome in, everyone! Run starts in a minute.")
            chatter.send_chat(stream_id, "Let's go, PB pace today? PogChamp", emotes=[emote(
                "Let's go, PB pace today? PogChamp", "PogChamp")])  # fmt: skip
            mod.send_chat(stream_id, "Be kind in chat, have fun SeemsGood", emotes=[emote(
                "Be kind in chat, have fun SeemsGood", "SeemsGood")])  # fmt: skip
            streamer.send_chat(stream_id, f"@{viewer_name} thanks for the follow last week!")
            artist.send_chat(
                stream_id, "dropping by from the art stream, good luck!",
                reply_to=str(welcome["message_id"]),
            )  # fmt: skip
            eventually(lambda: len(streamer.chat_history(stream_id, limit=200)["items"]) >= 68)
            pinned = streamer.send_chat(stream_id, "Run rules: no major glitches, 2 resets max")
            eventually(lambda: any(m["message_id"] == pinned["message_id"] for m in
                                   streamer.chat_history(stream_id)["items"]))  # fmt: skip
            streamer.pin_message(stream_id, str(pinned["message_id"]))
            options = ["The Watcher", "Ember Queen", "Skip it"]
            poll = streamer.create_poll(stream_id, QUESTION, options, duration_seconds=600)
            poll_id = str(poll["poll_id"])
            streamer.open_poll(stream_id, poll_id)
            eventually(lambda: poll_open(streamer, stream_id, poll_id))
            chatter.vote(stream_id, poll_id, "2")
            chatter.react(stream_id, "fire", 3)
            quiz = streamer.create_quiz(
                stream_id, QUIZ, ["2004", "2009", "2013"], "2", points=10, time_limit_seconds=170
            )
            chatter.answer_quiz(stream_id, str(quiz["quiz_id"]), str(quiz["question_id"]), "1")
            eventually(lambda: streamer.poll(stream_id, poll_id)["voters"] == 1)
            oldest = streamer.chat_history(stream_id, limit=200)["items"][0]["text"]

            replier = threading.Thread(target=reply_to_the_phone, args=(chatter, stream_id))
            replier.start()  # the phone's viewer hears of it in their notification centre
            done = run_script(
                "tests/viewer.mjs", 170, APP_URL=live.url, STREAM_ID=stream_id,
                CHAT_TEXT="PB pace today", POLL_QUESTION=QUESTION,
                QUIZ_QUESTION=QUIZ, USERNAME=viewer_name, PASSWORD=PASSWORD,
                DISPLAY_NAME="The viewer", STREAMER_NAME="Mia Speedruns", HELD_TEXT=HELD_TEXT,
                FIRST_MESSAGE=oldest,
            )  # fmt: skip
            assert done["played_seconds"] > 0.5, done
            replier.join(30)
        # The publisher left: the stream ends and its recording plays with the chat replayed.
        vod = eventually(lambda: streamer.recordings(stream_id)["items"], timeout=60)[0]
        # The replay reads ClickHouse's copy of the log, a few seconds behind it.
        said_at = eventually(
            lambda: [at for text, at in replayed_messages(streamer, stream_id, vod).items()
                     if "PB pace today" in text],
            timeout=60,
        )[0]  # fmt: skip
        replayed = run_script(
            "tests/viewer.mjs", 170, APP_URL=live.url, STREAM_ID=stream_id,
            VOD_URL=f"{live.url}/vod/{stream_id}/{vod['recording_id']}",
            CHAT_TEXT="PB pace today", CHAT_AT_SECONDS=str(said_at / 1000),
        )  # fmt: skip
        assert replayed["vod_played_seconds"] > 0.5 and replayed["vod_replayed_messages"] >= 60
        # The recording lasts as long as the stream was live, in the player too (a publisher
        # whose timestamps ran slower than its clock once made a 60 s stream a 15 s VOD).
        live_ms = eventually_logged(live.settings, "stream", stream_id, "Ended").body["duration_ms"]
        assert abs(replayed["vod_duration"] * 1000 - live_ms) <= 2000, (replayed, live_ms)

        history = [m["text"] for m in streamer.chat_history(stream_id, limit=200)["items"]]
        assert done["said"] in history and done["replied"] in history
        assert HELD_TEXT not in history
        held = [item["text"] for item in mod.review_queue(stream_id)["items"]]
        assert HELD_TEXT in held
        tally = streamer.poll(stream_id, poll_id)
        assert tally["voters"] == 2
        assert [o["votes"] for o in tally["options"] if o["text"] == done["voted"]] == [1]
        assert streamer.reactions(stream_id)["totals"].get("heart") == 1
        totals = eventually(lambda: streamer.tips(stream_id)["totals"].get("USD"))
        assert totals["captured"] == done["tipped_minor"]
    for screen in ("discover", "watch"):
        for device in ("phone", "tablet", "desktop"):
            assert (SHOTS / f"{screen}-{device}.png").stat().st_size > 10_000
