"""Co-streaming media through a real gateway and media process with real aiortc peers: a guest
with an accepted invitation publishes onto the host's stage with their own access token, a
viewer receives host and guest as two tracks of one WHEP session, the streamer mutes the guest
(their audio stops) and removes them (their session is cut); a guest without an accepted
invitation, or without a valid token, is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiortc import RTCBundlePolicy, RTCSessionDescription

from livefold.settings import Settings
from media.aioice_private import host_addresses_only
from tests.gateways import PUBLIC_URL, Running, Tokens, gateway
from tests.media_peers import (
    STREAMER,
    Publisher,
    connect,
    eventually_logged,
    logged,
    media_process,
    new_stream,
    offer_of,
    peer,
    post_offer,
    rotated_key,
    with_client,
)

GUEST, OUTSIDER = "guest-ana", "guest-bob"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def services(stack: Settings) -> Iterator[tuple[Running, str, Tokens]]:
    with (
        host_addresses_only(["127.0.0.1"]),
        gateway(stack, "gateway-costream") as running,
        media_process(stack, public_url=PUBLIC_URL, media_fanout_processes=1) as (_, media_url),
    ):
        yield running, media_url, Tokens(stack)


class StageViewer:
    """A WHEP viewer of the host and one guest: two video and two audio sections."""

    def __init__(self) -> None:
        # Max-bundle, as browsers (and WHEP clients) do: with aiortc's default policy its second
        # audio section would listen on a transport nothing is sent to.
        self.peer = peer(RTCBundlePolicy.MAX_BUNDLE)
        for kind in ("video", "video", "audio", "audio"):
            self.peer.addTransceiver(kind, direction="recvonly")
        self.tracks: dict[str, list[Any]] = {"video": [], "audio": []}

        @self.peer.on("track")
        def on_track(track: Any) -> None:
            self.tracks[track.kind].append(track)

    async def offer(self) -> str:
        return await offer_of(self.peer)

    async def accept(self, answer: str) -> None:
        await self.peer.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def frames(self, kind: str, slot: int, count: int) -> None:
        try:
            async with asyncio.timeout(30):
                while len(self.tracks[kind]) <= slot:
                    await asyncio.sleep(0.02)
                for _ in range(count):
                    await self.tracks[kind][slot].recv()
        except TimeoutError:
            raise AssertionError(f"no {kind} frames in slot {slot}") from None

    async def falls_silent(self, kind: str, slot: int) -> bool:
        """Whether the slot's track stops delivering (a second without a frame) within 10 s."""
        track = self.tracks[kind][slot]
        async with asyncio.timeout(10):
            while True:
                try:
                    await asyncio.wait_for(track.recv(), 1.0)
                except TimeoutError:
                    return True


async def call(
    http: httpx.AsyncClient, running: Running, tokens: Tokens, user: str, path: str, **body: Any
) -> dict[str, Any]:
    roles = {"streamer"} if user == STREAMER else None
    answer = await http.post(
        f"{running.url}/api/v1{path}", json=body, headers=tokens.headers(user, roles)
    )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def layout(http: httpx.AsyncClient, media: str, stream_id: str) -> list[dict[str, Any]]:
    return list((await http.get(f"{media}/whep/{stream_id}/stage")).json()["slots"])


@with_client
async def test_an_invited_guest_joins_the_stage_is_muted_and_removed_by_the_streamer(
    services: tuple[Running, str, Tokens], http: httpx.AsyncClient, stack: Settings
) -> None:
    running, media, tokens = services
    stream_id = await new_stream(http, running, tokens)
    key = await rotated_key(http, running, tokens)
    whip = f"{media}/whip/{stream_id}"
    host = Publisher(audio=True)
    await connect(http, whip, host, key)
    await asyncio.to_thread(eventually_logged, stack, "stream", stream_id, "WentLive")

    guests = f"/streams/{stream_id}/guests"
    invite = (await call(http, running, tokens, STREAMER, guests, guest_id=GUEST))["invite_id"]
    await call(http, running, tokens, STREAMER, guests, guest_id=OUTSIDER)  # never accepted
    await call(http, running, tokens, GUEST, f"{guests}/{invite}/accept")

    offer = await Publisher(audio=True).offer()
    outsider = await post_offer(http, whip, offer, tokens.token(OUTSIDER))
    assert outsider.status_code == 403 and "no accepted invitation" in outsider.text
    forged = await post_offer(http, whip, offer, "not-a-token")
    assert forged.status_code == 401 and "Bearer" in forged.headers["www-authenticate"]

    guest = Publisher(audio=True)
    await connect(http, whip, guest, tokens.token(GUEST))
    on_stage = await asyncio.to_thread(
        eventually_logged, stack, "costream", stream_id, "GuestJoinedStage"
    )
    assert on_stage.actor_id == GUEST and on_stage.body["invite_id"] == invite
    slots = await layout(http, media, stream_id)
    assert [(s["slot"], s["user_id"], s["role"]) for s in slots] == [
        (0, STREAMER, "host"),
        (1, GUEST, "guest"),
    ]

    viewer = StageViewer()
    watched = await connect(http, f"{media}/whep/{stream_id}", viewer)
    assert watched.text.count("m=video") == 2 and watched.text.count("m=audio") == 2
    for kind in ("video", "audio"):
        for slot in (0, 1):  # host and guest, each in their own track
            await viewer.frames(kind, slot, 5)

    await call(
        http, running, tokens, STREAMER, f"{guests}/{invite}/mute", guest_id=GUEST, muted=True
    )
    await asyncio.to_thread(eventually_logged, stack, "costream", stream_id, "GuestMuted")
    assert await viewer.falls_silent("audio", 1)
    await viewer.frames("audio", 0, 5)  # the host is still heard
    assert (await layout(http, media, stream_id))[1]["muted"] is True

    await call(http, running, tokens, STREAMER, f"{guests}/{invite}/remove", guest_id=GUEST)
    async with asyncio.timeout(15):
        while len(await layout(http, media, stream_id)) > 1:
            await asyncio.sleep(0.1)
    assert await viewer.falls_silent("video", 1)
    await viewer.frames("video", 0, 5)
    left = [e for e in logged(stack, "costream", stream_id) if e.name == "GuestLeftStage"]
    assert [(e.body["reason"], e.actor_id) for e in left] == [("kicked", STREAMER)]
    again = await post_offer(http, whip, await Publisher().offer(), tokens.token(GUEST))
    assert again.status_code == 403  # removed: it takes a new invitation

    for connection in (viewer.peer, guest.peer, host.peer):
        await connection.close()
