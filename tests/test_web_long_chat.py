"""A thousand-message chat in the viewer app, in a real browser (web/tests/long_chat.mjs drives
Debian's chromium) against a live gateway serving the app, the fold worker and the analytics
sink: chatters send through the API while a desktop watches. The list stays windowed (a bounded
number of rows and elements in the DOM whatever it holds), shows the newest at the bottom, keeps
the row being read in place while more arrive, scrolls back through the history the gateway
keeps, and past the 1,000 it holds through the whole chat (from ClickHouse) to the stream's
first message, saying "the beginning of the chat" only there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial

import pytest
from livefold_sdk import Livefold

from gateway.web_app import BUILD
from livefold.settings import Settings
from tests.analytics_support import Sink
from tests.browsers import SHOTS, Browser
from tests.gateways import eventually
from tests.sdk_support import LiveGateway, live_gateway, make_streamer
from tests.test_web_app import fill_chat, go_live, register, signed_in

HISTORY = 120
BURST = 1000
MORE = 20
KEPT = 1000  # the messages the app keeps (web/src/pages/watch.tsx)
TOTAL = HISTORY + BURST + 1 + MORE

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    sink = Sink(folded)  # the whole chat, past what the gateway and the app keep, is ClickHouse's
    with live_gateway(folded, tmp_path_factory.mktemp("web-long-chat")) as running:
        sink.start()
        try:
            yield running
        finally:
            sink.stop()


def said(people: list[Livefold], stream_id: str, texts: list[str]) -> None:
    """Each person sends their share of `texts` (in order within the share), all at once."""

    def share(index: int) -> None:
        for text in texts[index :: len(people)]:
            people[index].send_chat(stream_id, text)

    threads = [threading.Thread(target=share, args=(index,)) for index in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)


def in_history(client: Livefold, stream_id: str, text: str) -> bool:
    return any(m["text"] == text for m in client.chat_history(stream_id, limit=200)["items"])


def whole_chat(client: Livefold, stream_id: str) -> list[str]:
    """Every message's text, paged back from the newest through the whole chat."""
    texts: list[str] = []
    before = None
    while True:
        page = client.chat_scrollback(stream_id, before=before, limit=200)
        texts[:0] = [message["text"] for message in page["messages"]]
        if (before := page["next_cursor"]) is None:
            return texts


def test_a_thousand_message_chat_stays_windowed_follows_the_newest_and_scrolls_back(
    live: LiveGateway,
) -> None:
    streamer_id, streamer_name = register(live.url, "streamer", "Mia Speedruns")
    make_streamer(live, streamer_id)
    names = [register(live.url, "chatter", f"Chatter {n}")[1] for n in range(4)]
    with signed_in(live, streamer_name) as streamer:
        stream_id = go_live(streamer, "A very busy chat", "Just Chatting", ["busy"])
        streamer.change_filters(stream_id, rate_limit_messages=500)
        people = [signed_in(live, name) for name in names]
        try:
            fill_chat(people, stream_id, HISTORY)  # the app shows the newest 50 first
            eventually(lambda: len(streamer.chat_history(stream_id, limit=200)["items"]) == HISTORY)
            kept = streamer.chat_history(stream_id, limit=200)
            assert kept["from_first"] is True  # the gateway keeps the stream's first message
            history = kept["items"]
            browser = Browser(
                {"APP_URL": live.url, "STREAM_ID": stream_id, "FIRST_MESSAGE": history[0]["text"],
                 "LAST_MESSAGE": history[-1]["text"]},
                script="tests/long_chat.mjs",
            )  # fmt: skip
            browser.next("STEP burst")
            burst = [f"message {n + 1} of the burst, keep it coming" for n in range(BURST)]
            said(people, stream_id, burst)
            # Said after every burst message was acknowledged: in chat, it follows all of them.
            last = "that was a thousand, thanks everyone"
            streamer.send_chat(stream_id, last)
            eventually(partial(in_history, streamer, stream_id, last), timeout=120)
            assert streamer.chat_history(stream_id)["from_first"] is False  # it keeps 200
            browser.answer({"last": last})
            browser.next("STEP more")
            more = [f"one more while you read ({n + 1})" for n in range(MORE)]
            for text in more:
                people[0].send_chat(stream_id, text)
            # Scrolled back past what the app holds, the desktop reads the sink's copy.
            eventually(lambda: len(whole_chat(streamer, stream_id)) == TOTAL, timeout=120)
            browser.answer({"last": more[-1], "count": MORE})
            seen = browser.next("DONE")
        finally:
            for person in people:
                person.close()

    assert seen["history"]["total"] == HISTORY  # all the gateway keeps, scrolled back to
    assert seen["burst"]["total"] == KEPT
    assert seen["scrolled_back"]["total"] == seen["bottom"]["total"] == TOTAL  # all it scrolled to
    small = seen["history"]
    for moment in ("burst", "scrolled_back", "bottom"):  # 1,000 rows cost what 120 did
        counts = seen[moment]
        assert counts["rendered"] < 100, (moment, counts)  # a screenful and some
        assert counts["rendered"] <= small["rendered"] + 15, (moment, counts, small)
        assert counts["elements"] <= small["elements"] + 150, (moment, counts, small)
    assert seen["reading"]["after"] is not None  # the row read stayed in place as rows came
    assert abs(seen["reading"]["after"] - seen["reading"]["before"]) <= 1, seen["reading"]
    # The whole chat's page came above the row being read, which stayed put.
    assert seen["prepended"]["after"] is not None
    assert abs(seen["prepended"]["after"] - seen["prepended"]["before"]) <= 1, seen["prepended"]
    assert history[0]["text"] in seen["top"]  # back past the 1,000 held, to the stream's first
    print("long tasks during the burst (ms):", seen["long_tasks_ms"])
    assert (SHOTS / "chat-1000-desktop.png").stat().st_size > 10_000
