"""The streamer's control panel and the OBS overlays (web/src/panel, web/src/overlays) in a real
browser: web/tests/panel.mjs drives Debian's chromium with a fake camera against a live gateway
(serving the app), a media service, the fold worker and the analytics sink. The streamer signs
in, goes live over WHIP from the camera, approves a held message, bans a troll from chat, runs
a poll and a quiz, invites and mutes a guest, reads the analytics charts and ends the stream;
overlays show a tip alert and reaction rain, with custom CSS sanitised. Everyone else (viewers
chatting, reacting, tipping, voting) is played here, when the script prints `STEP <name>`.
Screenshots of every panel screen and each overlay land in docs/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from livefold_sdk import Call, Forbidden, Livefold, NotFound, OAuth, sign_in

from gateway.web_app import BUILD
from infra.service import free_port
from livefold.settings import Settings
from tests.analytics_support import Sink
from tests.browsers import SHOTS, Browser
from tests.gateways import eventually
from tests.media_peers import media_process
from tests.sdk_support import PASSWORD, LiveGateway, live_gateway, make_streamer, person_signing_in

VISA = "4242424242424242"
QUESTION = "Route for the next run?"
SCREENS = ("streams", "golive", "settings", "chat", "rules", "interact", "tips", "guests", "media")
SCREENS += ("analytics", "overlays")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    settings = folded.model_copy(update={"media_port": free_port()})
    sink = Sink(settings)
    sink.start()
    try:
        with (
            media_process(settings, media_port=settings.media_port),
            live_gateway(settings, tmp_path_factory.mktemp("web-panel")) as running,
        ):
            yield running
    finally:
        sink.stop()


def person(live: LiveGateway, role: str) -> tuple[str, str, Livefold]:
    username = f"{role}{uuid.uuid4().hex[:8]}"
    with Livefold(live.url) as anonymous:
        account = anonymous.register(username, PASSWORD, f"The {role}", f"{username}@example.org")
    user_id = str(account["user_id"])
    if role == "streamer":
        make_streamer(live, user_id)
    auth = sign_in(OAuth.discover(live.url), person_signing_in(username), timeout=30)
    return user_id, username, Livefold(live.url, auth=auth)


def known(client: Livefold, stream_id: str) -> bool:
    try:
        return bool(client.stream(stream_id))
    except NotFound:
        return False


def test_a_streamer_runs_a_live_stream_from_the_panel_and_overlays_show_it(
    live: LiveGateway,
) -> None:
    _, streamer_name, streamer = person(live, "streamer")
    _, _, chatter = person(live, "chatter")
    troll_id, _, troll = person(live, "troll")
    guest_id, _, guest = person(live, "guest")
    with streamer, chatter, troll, guest:
        stream_id = str(
            streamer.create_stream("Speedrun night: any% attempts", "Games", tags=["speedrun"])[
                "stream_id"
            ]
        )
        eventually(lambda: known(streamer, stream_id))
        browser = Browser(
            {"APP_URL": live.url, "STREAM_ID": stream_id, "USERNAME": streamer_name,
             "PASSWORD": PASSWORD, "GUEST_ID": guest_id}
        )  # fmt: skip
        try:
            browser.next("STEP live")  # went live from the browser's camera over WHIP
            assert streamer.stream(stream_id)["status"] == "live"
            chatter.send_chat(stream_id, "GLHF! first time catching this live")
            held = str(chatter.send_chat(stream_id, "you are an idiot")["message_id"])
            spam = str(troll.send_chat(stream_id, "lol this run is going nowhere")["message_id"])
            tip = chatter.tip(stream_id, 1500, "EUR", message="for the dragon skip")
            payment = tip["payment"]
            paid = httpx.post(
                payment["next_action"]["pay_url"],
                json={"client_secret": payment["client_secret"], "card_number": VISA},
                timeout=30,
            )
            assert paid.status_code == 200, paid.text
            browser.answer(
                {"held": held, "troll": spam, "trollId": troll_id, "tip": tip["tip_id"],
                 "question": QUESTION}
            )  # fmt: skip
            browser.next("STEP rain")
            chatter.react(stream_id, "fire", 6)
            chatter.react(stream_id, "heart", 3)
            browser.answer({})
            poll = browser.next("STEP poll")
            chatter.vote(stream_id, poll["poll_id"], "1")
            browser.answer({})
            done = browser.next("DONE")
        finally:
            if browser.process.poll() is None:
                browser.process.kill()

        history = [message["text"] for message in streamer.chat_history(stream_id)["items"]]
        assert "you are an idiot" in history  # approved from the review queue
        with pytest.raises(Forbidden, match="banned"):
            troll.send_chat(stream_id, "am I still here?")
        tally = streamer.poll(stream_id, done["poll_id"])
        assert (tally["question"], tally["status"], tally["voters"]) == (QUESTION, "closed", 1)
        guests = streamer.request(Call("GET", f"/streams/{stream_id}/guests"))
        invites = [(i["guest_id"], i["status"], i["muted"]) for i in guests["invites"]]
        assert invites == [(guest_id, "invited", True)]
        assert eventually(lambda: streamer.stream(stream_id)["status"] == "ended")
        assert done["charts"]["messages"] >= 3 and done["charts"]["viewers"] >= 1
        assert "javascript" not in done["css"]
    for screen in SCREENS:
        assert (SHOTS / f"panel-{screen}-desktop.png").stat().st_size > 10_000, screen
    for screen in ("golive", "chat", "analytics", "interact"):
        assert (SHOTS / f"panel-{screen}-tablet.png").stat().st_size > 10_000, screen
    for kind in ("alerts", "chat", "poll", "reactions", "goal"):
        assert (SHOTS / f"overlay-{kind}.png").stat().st_size > 5_000, kind
