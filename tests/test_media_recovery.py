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

from infra.service import RunningService, free_port
from livefold.settings import Settings
from media.aioice_private import host_addresses_only
from media.service import local_url, service
from tests.gateways import Running, Tokens, gateway
from tests.media_peers import (
    Publisher,
    Viewer,
    eventually_logged,
    logged,
    new_stream,
    post_offer,
    rotated_key,
    with_client,
)
from tests.servers import log_to

GRACE_SECONDS = 4.0  # media_ingest_timeout_seconds: how long a publisher has to come back

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(stack: Settings) -> Iterator[tuple[Running, RunningService, Tokens]]:
    own = stack.model_copy(
        update={
            "media_port": free_port(),
            "media_ingest_timeout_seconds": GRACE_SECONDS,
            "media_fanout_processes": 1,
        }
    )
    spec = service(own, "media-recovery")
    media = RunningService(spec, log_to(stack.data_dir / "logs")(spec))
    with host_addresses_only(["127.0.0.1"]), gateway(stack, "gateway-media-recovery") as running:
        media.start()
        try:
            yield running, media, Tokens(stack)
        finally:
            media.stop()


async def went_live(http: httpx.AsyncClient, url: str, key: str, stack: Settings) -> Publisher:
    publisher = Publisher()
    stream_id = url.rsplit("/", 1)[1]
    published = await post_offer(http, url, await publisher.offer(), key)
    assert published.status_code == 201, published.text
    await publisher.accept(published.text)
    await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "WentLive")
    return publisher


def names(stack: Settings, domain: str, stream_id: str) -> list[str]:
    return [event.name for event in logged(stack, domain, stream_id)]


@with_client
async def test_a_killed_media_process_ends_what_it_held_and_a_publisher_can_come_back(
    services: tuple[Running, RunningService, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, media, tokens = services
    url = local_url(media.service.settings)  # type: ignore[attr-defined]
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
    republished = await post_offer(http, f"{url}/whip/{comes_back}", await again.offer(), key)
    assert republished.status_code == 201, republished.text
    await again.accept(republished.text)

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
    services: tuple[Running, RunningService, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, media, tokens = services
    url = local_url(media.service.settings)  # type: ignore[attr-defined]
    stream_id = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    publisher = await went_live(http, f"{url}/whip/{stream_id}", key, stack)
    viewer = Viewer()
    watched = await post_offer(http, f"{url}/whep/{stream_id}", await viewer.offer())
    assert watched.status_code == 201, watched.text
    await viewer.accept(watched.text)
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
    watched = await post_offer(http, f"{url}/whep/{stream_id}", await again.offer())
    assert watched.status_code == 201, watched.text
    await again.accept(watched.text)
    assert len(await again.frames(5)) == 5
    for peer in (viewer.peer, again.peer, publisher.peer):
        await peer.close()
