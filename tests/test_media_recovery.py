"""A media process killed with SIGKILL while two streams are live: started again on the same
address, it closes the ingests it held; the stream whose publisher comes back goes on (a new
ingest, no second WentLive), the other ends as ingest_lost. A fan-out process killed the same
way is started again, its viewers counted as gone. Real processes, real aiortc peers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from infra.service import RunningService
from livefold.settings import Settings
from media.aioice_private import host_addresses_only
from media.service import local_url
from tests.gateways import Running, Tokens, gateway
from tests.media_peers import (
    Publisher,
    Viewer,
    connect,
    eventually_logged,
    logged,
    media_service,
    new_stream,
    rotated_key,
    with_client,
)

GRACE_SECONDS = 4.0  # media_ingest_timeout_seconds: how long a publisher has to come back

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(stack: Settings) -> Iterator[tuple[Running, str, RunningService, Tokens]]:
    own, media = media_service(
        stack, "media-recovery", media_ingest_timeout_seconds=GRACE_SECONDS,
        media_fanout_processes=1,
    )  # fmt: skip
    with host_addresses_only(["127.0.0.1"]), gateway(stack, "gateway-media-recovery") as running:
        media.start()
        try:
            yield running, local_url(own), media, Tokens(stack)
        finally:
            media.stop()


async def went_live(http: httpx.AsyncClient, url: str, key: str, stack: Settings) -> Publisher:
    publisher = Publisher()
    await connect(http, url, publisher, key)
    await asyncio.to_thread(eventually_logged, stack, "stream", url.rsplit("/", 1)[1], "WentLive")
    return publisher


def names(stack: Settings, domain: str, stream_id: str) -> list[str]:
    return [event.name for event in logged(stack, domain, stream_id)]


@with_client
async def test_a_killed_media_process_ends_what_it_held_and_a_publisher_can_come_back(
    services: tuple[Running, str, RunningService, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, url, media, tokens = services
    comes_back = await new_stream(http, running, tokens)
    stays_away = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    first = await went_live(http, f"{url}/whip/{comes_back}", key, stack)
    gone = await went_live(http, f"{url}/whip/{stays_away}", key, stack)
    held = await asyncio.to_thread(eventually_logged, stack, "media", comes_back, "IngestStarted")
    assert held.body["media_instance"]

    await asyncio.to_thread(media.kill)  # SIGKILL: it appends nothing on its way out
    await first.peer.close()
    await gone.peer.close()
    assert "Ended" not in names(stack, "stream", comes_back)
    assert "Ended" not in names(stack, "stream", stays_away)

    # The same address, so the same media_instance. Started from this thread: Linux sends the
    # child its parent-death signal when the thread that started it ends.
    media.start()
    again = Publisher()
    republished = await connect(http, f"{url}/whip/{comes_back}", again, key)

    ended = await asyncio.to_thread(eventually_logged, stack, "stream", stays_away, "Ended")
    assert ended.body["reason"] == "ingest_lost" and ended.actor_id == "system"
    assert ended.body["duration_ms"] > 0
    for stream_id in (comes_back, stays_away):
        stopped = [e for e in logged(stack, "media", stream_id) if e.name == "IngestStopped"]
        assert [(e.body["reason"], e.actor_id) for e in stopped] == [("error", "system")]

    second = await asyncio.to_thread(
        eventually_logged, stack, "media", comes_back, "IngestStarted", 2
    )
    assert second.body["ingest_id"] != held.body["ingest_id"]
    await asyncio.sleep(GRACE_SECONDS)  # past the grace: the stream that came back goes on
    on_stream = names(stack, "stream", comes_back)
    assert "Ended" not in on_stream and on_stream.count("WentLive") == 1, on_stream

    location = republished.headers["location"]
    stop = await http.delete(f"{url}{location}", headers={"Authorization": f"Bearer {key}"})
    assert stop.status_code == 200, stop.text
    ended = await asyncio.to_thread(eventually_logged, stack, "stream", comes_back, "Ended")
    assert ended.body["reason"] == "streamer_ended"
    assert ended.body["duration_ms"] >= GRACE_SECONDS * 1000  # from going live the first time
    await again.peer.close()


def fanout_pids(url: str) -> list[int]:
    return [worker["pid"] for worker in httpx.get(f"{url}/health/ready").json()["fanout"]]


@with_client
async def test_a_killed_fanout_process_is_started_again_and_its_viewers_are_counted_gone(
    services: tuple[Running, str, RunningService, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, url, _, tokens = services
    stream_id = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    publisher = await went_live(http, f"{url}/whip/{stream_id}", key, stack)
    viewer = Viewer()
    await connect(http, f"{url}/whep/{stream_id}", viewer)
    assert len(await viewer.frames(5)) == 5
    joined = await asyncio.to_thread(
        eventually_logged, stack, "audience", stream_id, "ViewerJoined"
    )

    [killed] = fanout_pids(url)
    os.kill(killed, signal.SIGKILL)
    left = await asyncio.to_thread(eventually_logged, stack, "audience", stream_id, "ViewerLeft")
    assert left.body["session_id"] == joined.body["session_id"]
    deadline = time.monotonic() + 30
    while fanout_pids(url) in ([], [killed]):
        assert time.monotonic() < deadline, "the fan-out process was not started again"
        await asyncio.sleep(0.2)

    again = Viewer()
    await connect(http, f"{url}/whep/{stream_id}", again)
    assert len(await again.frames(5)) == 5
    for peer in (viewer.peer, again.peer, publisher.peer):
        await peer.close()
