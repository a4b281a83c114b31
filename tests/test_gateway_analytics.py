"""The analytics read (`GET /api/v1/streams/{id}/analytics`, gateway/analytics.py) against the
real ClickHouse: a stream's chat, reactions, a paid tip and a watching socket go through the
gateway, the analytics sink writes them, and the streamer reads them back per minute and per
hour; others are refused."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from livefold_sdk import Forbidden, Livefold, OAuth, Unauthorized, sign_in
from livefold_sdk.errors import InvalidRequest, NotFound

from livefold.settings import Settings
from tests.analytics_support import Sink
from tests.gateways import eventually
from tests.sdk_support import PASSWORD, LiveGateway, live_gateway, make_streamer, person_signing_in

VISA = "4242424242424242"


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    sink = Sink(folded)
    sink.start()
    try:
        with live_gateway(folded, tmp_path_factory.mktemp("analytics-route")) as running:
            yield running
    finally:
        sink.stop()


def person(live: LiveGateway, role: str) -> tuple[str, Livefold]:
    username = f"{role}{uuid.uuid4().hex[:8]}"
    with Livefold(live.url) as anonymous:
        account = anonymous.register(username, PASSWORD, role, f"{username}@example.org")
    if role == "streamer":
        make_streamer(live, str(account["user_id"]))
    auth = sign_in(OAuth.discover(live.url), person_signing_in(username), timeout=30)
    return str(account["user_id"]), Livefold(live.url, auth=auth)


async def watch(url: str, stream_id: str, ready: asyncio.Event, done: asyncio.Event) -> None:
    """An anonymous viewer's socket on the stream: the gateway appends its ViewerJoined."""
    async with websockets.connect(url.replace("http", "ws", 1) + "/ws") as socket:
        subscribe = {"op": "subscribe", "stream": stream_id, "channels": ["chat"]}
        await socket.send(json.dumps(subscribe))
        while json.loads(await socket.recv()).get("type") != "snapshot":
            pass
        ready.set()
        await done.wait()


def known(client: Livefold, stream_id: str) -> bool:
    try:
        return bool(client.stream(stream_id))
    except NotFound:
        return False


def figures(client: Livefold, stream_id: str, bucket: str = "minute") -> dict[str, Any]:
    return dict(client.analytics(stream_id, bucket))


def test_a_streamer_reads_per_minute_engagement_that_clickhouse_counted(live: LiveGateway) -> None:
    _, streamer = person(live, "streamer")
    _, viewer = person(live, "viewer")
    _, outsider = person(live, "outsider")
    with streamer, viewer, outsider:
        stream_id = str(streamer.create_stream("Analytics run", "Games")["stream_id"])
        eventually(lambda: known(streamer, stream_id))
        streamer.go_live(stream_id)
        assert figures(streamer, stream_id)["points"] == []  # nothing counted yet

        async def audience() -> None:
            ready, done = asyncio.Event(), asyncio.Event()
            watching = asyncio.create_task(watch(live.url, stream_id, ready, done))
            await ready.wait()
            for text in ("first!", "good luck", "gg"):
                await asyncio.to_thread(viewer.send_chat, stream_id, text)
            await asyncio.to_thread(viewer.react, stream_id, "fire", 4)
            await asyncio.to_thread(streamer.react, stream_id, "heart", 1)
            tip = await asyncio.to_thread(viewer.tip, stream_id, 500, "EUR", message="for the run")
            payment = tip["payment"]
            paid = httpx.post(
                payment["next_action"]["pay_url"],
                json={"client_secret": payment["client_secret"], "card_number": VISA},
                timeout=30,
            )
            assert paid.status_code == 200, paid.text
            done.set()
            await watching

        asyncio.run(audience())

        def counted() -> dict[str, Any] | None:
            answer = figures(streamer, stream_id)
            totals = answer["totals"]
            whole = (totals["messages"], totals["reactions"], totals["tips"], totals["chatters"])
            return answer if whole == (3, 5, 1, 1) and totals["viewers"] >= 1 else None

        answer = eventually(counted, timeout=60)
        assert answer["bucket"] == "minute" and answer["bucket_ms"] == 60_000
        minutes = [point["at"] for point in answer["points"]]
        assert minutes == list(range(minutes[0], minutes[-1] + 60_000, 60_000))  # gaps filled
        assert all(at % 60_000 == 0 for at in minutes)
        assert answer["tips_by_currency"] == {"EUR": 500}
        assert answer["totals"]["peak_viewers"] >= 1

        hourly = figures(streamer, stream_id, "hour")
        assert hourly["bucket_ms"] == 3_600_000
        assert sum(point["messages"] for point in hourly["points"]) == 3

        with pytest.raises(Forbidden, match="only moderators"):
            outsider.analytics(stream_id)
        with pytest.raises(InvalidRequest, match="bucket"):
            streamer.analytics(stream_id, "fortnight")
        with pytest.raises(NotFound):
            streamer.analytics("no-such-stream")
    with Livefold(live.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.analytics(stream_id)
