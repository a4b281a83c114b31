"""WHIP ingest and WHEP playback through a real media process, with real aiortc peers: stream
keys from the gateway's API, refusals, encoded frames forwarded to a viewer that decodes them,
and the lifecycle events on Kafka (read with a real consumer)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livefold.settings import Settings
from livefold.stream_keys import fingerprint
from media.aioice_private import host_addresses_only
from tests.gateways import Running, Tokens, gateway
from tests.media_peers import (
    INDEXES,
    SDP,
    STREAMER,
    Publisher,
    Viewer,
    connect,
    eventually_logged,
    logged,
    media_process,
    new_stream,
    painted_index,
    post_offer,
    rotated_key,
    with_client,
)

STALL_SECONDS = 3.0
AV1_ONLY_OFFER = """v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
m=video 9 UDP/TLS/RTP/SAVPF 45
c=IN IP4 127.0.0.1
a=mid:0
a=sendonly
a=rtpmap:45 AV1/90000
"""

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(stack: Settings) -> Iterator[tuple[Running, str, Tokens]]:
    with (
        host_addresses_only(["127.0.0.1"]),  # this process's peers, like the media process's
        gateway(stack, "gateway-media") as running,
        media_process(
            stack,
            media_ingest_timeout_seconds=STALL_SECONDS,
            media_max_viewers=1,
            media_fanout_processes=2,
        ) as (
            _,
            media_url,
        ),
    ):
        yield running, media_url, Tokens(stack)


@with_client
async def test_a_published_video_reaches_a_viewer_as_decodable_frames_and_the_stream_goes_live(
    services: tuple[Running, str, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, media, tokens = services
    stream_id = await new_stream(http, running, tokens)
    old_key = await rotated_key(http, running, tokens)
    key = await rotated_key(http, running, tokens)

    publisher = Publisher()
    offer = await publisher.offer()
    refused = await post_offer(http, f"{media}/whip/{stream_id}", offer, old_key)
    assert refused.status_code == 403, refused.text
    assert "stream key" in refused.text and old_key not in refused.text
    log = (stack.data_dir / "logs" / "media.log").read_text()
    assert fingerprint(old_key) in log and old_key not in log

    published = await post_offer(http, f"{media}/whip/{stream_id}", offer, key)
    assert published.status_code == 201, published.text
    assert published.headers["content-type"].startswith("application/sdp")
    location = published.headers["location"]
    assert location.startswith(f"/whip/{stream_id}/")
    await publisher.accept(published.text)

    second = await post_offer(http, f"{media}/whip/{stream_id}", await Publisher().offer(), key)
    assert second.status_code == 409, second.text

    viewer = Viewer()
    watched = await connect(http, f"{media}/whep/{stream_id}", viewer)
    assert "VP8/90000" in watched.text  # the publisher's codec, forwarded as it was encoded
    frames = await viewer.frames(60)
    stamps = [frame.pts for frame in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    indexes = [painted_index(frame) for frame in frames]
    steps = [(b - a) % INDEXES for a, b in itertools.pairwise(indexes)]
    assert all(0 < step <= 4 for step in steps), indexes  # in order; VP8 may skip a frame
    assert (frames[0].width, frames[0].height) == (320, 240)

    joined = await asyncio.to_thread(
        eventually_logged, stack, "audience", stream_id, "ViewerJoined"
    )
    assert joined.actor_id.startswith("anon-")

    other = Viewer()  # one viewer per fan-out process here: the second goes to the other one
    await connect(http, f"{media}/whep/{stream_id}", other)
    assert len(await other.frames(10)) == 10
    fanout = (await http.get(f"{media}/health/ready")).json()["fanout"]
    assert [worker["viewers"] for worker in fanout] == [1, 1], fanout
    assert len({worker["pid"] for worker in fanout}) == 2
    busy = await post_offer(http, f"{media}/whep/{stream_id}", await Viewer().offer())
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0

    started = await asyncio.to_thread(eventually_logged, stack, "media", stream_id, "IngestStarted")
    assert started.body["codec"] == "vp8" and started.actor_id == STREAMER
    assert (started.body["width"], started.body["height"]) == (320, 240)
    assert 20 <= started.body["fps"] <= 40
    live = await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "WentLive")
    assert live.body["ingest_id"] == started.body["ingest_id"]

    stopped = await http.delete(f"{media}{location}", headers={"Authorization": f"Bearer {key}"})
    assert stopped.status_code == 200, stopped.text
    ended = await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "Ended")
    assert ended.body["reason"] == "streamer_ended" and ended.body["duration_ms"] > 0
    stop = await asyncio.to_thread(eventually_logged, stack, "media", stream_id, "IngestStopped")
    assert stop.body["reason"] == "ended"
    await asyncio.to_thread(eventually_logged, stack, "audience", stream_id, "ViewerLeft", 2)
    audience = await asyncio.to_thread(logged, stack, "audience", stream_id)
    left = {event.body["session_id"] for event in audience if event.name == "ViewerLeft"}
    assert joined.body["session_id"] in left and len(left) == 2
    await publisher.peer.close()
    await viewer.peer.close()
    await other.peer.close()


@with_client
async def test_a_stalled_ingest_ends_the_stream_as_lost(
    services: tuple[Running, str, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, media, tokens = services
    stream_id = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    publisher = Publisher()
    await connect(http, f"{media}/whip/{stream_id}", publisher, key)
    await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "WentLive")
    publisher.track.paused = True
    ended = await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "Ended")
    assert ended.body["reason"] == "ingest_lost" and ended.actor_id == "system"
    stop = await asyncio.to_thread(eventually_logged, stack, "media", stream_id, "IngestStopped")
    assert stop.body["reason"] == "disconnected"
    again = await post_offer(http, f"{media}/whip/{stream_id}", await Publisher().offer(), key)
    assert again.status_code == 409 and "ended" in again.text
    await publisher.peer.close()


@with_client
async def test_bad_offers_and_keys_get_clear_refusals(
    services: tuple[Running, str, Tokens], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    running, media, tokens = services
    stream_id = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    url = f"{media}/whip/{stream_id}"
    offer = await Publisher().offer()

    missing = await post_offer(http, url, offer)
    assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
    wrong = await post_offer(http, url, offer, "lfsk_not-a-key")
    assert wrong.status_code == 403
    unknown = await post_offer(http, f"{media}/whip/no-such-stream", offer, key)
    assert unknown.status_code == 404
    garbled = await post_offer(http, url, "this is not SDP", key)
    assert garbled.status_code == 400 and "malformed SDP" in garbled.text
    av1 = await post_offer(http, url, AV1_ONLY_OFFER, key)
    assert av1.status_code == 415 and "AV1" in av1.text and "VP8" in av1.text
    as_json = await http.post(url, json={"sdp": offer}, headers={"Authorization": f"Bearer {key}"})
    assert as_json.status_code == 415
    not_live = await post_offer(http, f"{media}/whep/{stream_id}", await Viewer().offer())
    assert not_live.status_code == 404 and "not live" in not_live.text
    preflight = await http.options(
        url,
        headers={
            "Origin": "https://studio.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://studio.example")


def test_a_working_media_process_is_live_and_ready_as_probes_read_it(
    services: tuple[Running, str, Tokens],
) -> None:
    """`/health/live` for the supervisor's and Kubernetes' liveness probe (the directory still
    follows the log), `/health/ready` (and `/health`) for readiness."""
    _, media, _ = services
    live = httpx.get(f"{media}/health/live", timeout=5)
    assert (live.status_code, live.json()) == (200, {"live": True})
    for path in ("/health/ready", "/health"):
        ready = httpx.get(f"{media}{path}", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True


def trickled(offer: str) -> tuple[str, str]:
    """(the offer without its candidates, an RFC 8840 fragment carrying them)."""
    lines = offer.splitlines()
    candidates = [line for line in lines if line.startswith("a=candidate:")]
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-"))]
    ufrag = next(line for line in lines if line.startswith("a=ice-ufrag:"))
    pwd = next(line for line in lines if line.startswith("a=ice-pwd:"))
    fragment = [ufrag, pwd, "m=video 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0", *candidates]
    return "\r\n".join(kept) + "\r\n", "\r\n".join([*fragment, "a=end-of-candidates"]) + "\r\n"


async def patch(http: httpx.AsyncClient, url: str, fragment: str, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/trickle-ice-sdpfrag", **headers}
    return await http.patch(url, content=fragment, headers=sent)


@with_client
async def test_candidates_trickled_after_the_offer_connect_publisher_and_viewer(
    services: tuple[Running, str, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    """RFC 9725's trickle ICE: offers without candidates, candidates PATCHed afterwards."""
    running, media, tokens = services
    stream_id = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    auth = {"Authorization": f"Bearer {key}"}
    publisher = Publisher()
    offer, fragment = trickled(await publisher.offer())
    published = await post_offer(http, f"{media}/whip/{stream_id}", offer, key)
    assert published.status_code == 201, published.text
    assert published.headers["accept-patch"] == "application/trickle-ice-sdpfrag"
    resource, etag = f"{media}{published.headers['location']}", published.headers["etag"]

    as_sdp = await http.patch(resource, content=fragment, headers={**auth, **SDP})
    assert as_sdp.status_code == 415
    unauthorized = await patch(http, resource, fragment)
    assert unauthorized.status_code == 401
    stale = await patch(http, resource, fragment, **auth, **{"If-Match": '"another"'})
    assert stale.status_code == 412
    restart = fragment.replace("a=ice-ufrag:", "a=ice-ufrag:new")
    assert (await patch(http, resource, restart, **auth)).status_code == 501
    broken = await patch(http, resource, "a=mid:0\r\na=candidate:1 1 udp\r\n", **auth)
    assert broken.status_code == 400 and "malformed candidate" in broken.text
    added = await patch(http, resource, fragment, **auth, **{"If-Match": etag})
    assert added.status_code == 204, added.text
    await publisher.accept(published.text)
    await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "WentLive")

    viewer = Viewer()
    offer, fragment = trickled(await viewer.offer())
    watched = await post_offer(http, f"{media}/whep/{stream_id}", offer)
    assert watched.status_code == 201, watched.text
    session = f"{media}{watched.headers['location']}"
    assert (await patch(http, f"{session}x", fragment)).status_code == 404
    assert (await patch(http, session, fragment)).status_code == 204
    await viewer.accept(watched.text)
    assert len(await viewer.frames(10)) == 10
    await viewer.peer.close()
    assert (await http.delete(resource, headers=auth)).status_code == 200
    await publisher.peer.close()


@with_client
async def test_a_key_rotated_away_a_moment_ago_is_refused_at_once(
    services: tuple[Running, str, Tokens], http: httpx.AsyncClient
) -> None:
    """Publishing with the previous key right after a rotation's answer: the media process must
    decide on the log as it is then, not on what its directory happens to have read."""
    running, media, tokens = services
    stream_id = await new_stream(http, running, tokens)
    offer = await Publisher().offer()
    previous = await rotated_key(http, running, tokens)
    for _ in range(20):
        current = await rotated_key(http, running, tokens)
        refused = await post_offer(http, f"{media}/whip/{stream_id}", offer, previous)
        assert refused.status_code == 403, refused.text
        previous = current
        await asyncio.sleep(0.15)  # under the gateway's writes per user and second
