"""Co-streaming media: guests publishing over WHIP onto a live stream's stage.

A guest presents their own access token (not a stream key) to `POST /whip/{stream_id}`; the
media directory admits them while their invitation to that stream is accepted (or they are
already on stage), as the stream fold's `livefold.guests` says. At most `MAX_GUESTS` are on a
stage at once; each takes the lowest free slot (1-3; the host is slot 0), which is the order of
the video (and audio) sections in a viewer's WHEP answer, so a client lays the host and guests
out itself: `GET /whep/{stream_id}/stage` says who is in which slot.

The guest's answer uses the host's video codec, so a viewer's one negotiated codec fits every
slot. Once the guest's media flows the service appends `GuestJoinedStage` (unless the guest
already joined through the gateway); when the guest's session ends (DELETE, connection lost,
stalled, or the host's stream ended) it appends `GuestLeftStage` (left). When the streamer
removes the guest (`GuestLeftStage` kicked, through the gateway) the guest's session is cut,
and while the streamer has muted the guest (`GuestMuted`) viewers get none of their audio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from livefold.guests import JOINED, LEFT
from media.directory import LogDirectory
from media.peers import Publisher, on_closed
from media.pool import FanoutPool

log = logging.getLogger(__name__)
MAX_GUESTS = 3
CONNECT_SECONDS = 30.0
Append = Callable[..., Awaitable[None]]  # (event type, stream id, actor, **body)


class StageFull(RuntimeError):
    pass


class GuestSession:
    def __init__(self, publisher: Publisher, slot: int, invite_id: str):
        self.publisher = publisher
        self.slot = slot
        self.invite_id = invite_id
        self.muted = False
        self.joined = False

    @property
    def user_id(self) -> str:
        return self.publisher.streamer


class Stages:
    """The guests on the stages of this process's live streams."""

    def __init__(
        self,
        directory: LogDirectory,
        pool: FanoutPool,
        append: Append,
        ingest_timeout: float,
    ):
        self.directory = directory
        self.pool = pool
        self._append = append
        self._timeout = ingest_timeout
        self.guests: dict[str, dict[int, GuestSession]] = {}  # stream -> slot -> guest
        self._tasks: set[asyncio.Task[None]] = set()

    def find(self, stream_id: str, session_id: str) -> GuestSession | None:
        found = self.guests.get(stream_id, {}).values()
        return next((g for g in found if g.publisher.session_id == session_id), None)

    def layout(self, stream_id: str) -> list[dict[str, Any]]:
        return [
            {"slot": slot, "user_id": guest.user_id, "role": "guest", "muted": guest.muted}
            for slot, guest in sorted(self.guests.get(stream_id, {}).items())
        ]

    async def publish(
        self, host: Publisher, user_id: str, invite_id: str, offer: str
    ) -> tuple[GuestSession, str]:
        stream_id = host.stream_id
        stage = self.guests.setdefault(stream_id, {})
        if any(guest.user_id == user_id for guest in stage.values()):
            raise StageFull(f"{user_id} is already publishing on the stage of {stream_id!r}")
        free = [slot for slot in range(1, MAX_GUESTS + 1) if slot not in stage]
        if not free:
            raise StageFull(f"the stage of {stream_id!r} has {MAX_GUESTS} guests, its most")
        guest = GuestSession(Publisher(stream_id, user_id), free[0], invite_id)
        stage[guest.slot] = guest
        try:
            answer = await guest.publisher.accept(offer, video_codec=host.video_codec)
        except BaseException:
            stage.pop(guest.slot, None)
            await guest.publisher.peer.close()
            raise
        codec_name = host.video_codec.name if host.video_codec else ""

        def to_fanout(kind: str, frame: bytes, timestamp: int) -> None:
            if kind == "audio" and guest.muted:
                return
            self.pool.feed(stream_id, guest.slot, codec_name, kind, frame, timestamp)

        guest.publisher.stage.taps.append(to_fanout)

        async def closed(state: str) -> None:
            await self.end(guest, f"connection {state}")

        on_closed(guest.publisher.peer, closed)
        self._spawn(self._watch(guest))
        return guest, answer

    def request_keyframe(self, stream_id: str, slot: int) -> None:
        guest = self.guests.get(stream_id, {}).get(slot)
        if guest is not None:
            guest.publisher.stage.request_keyframe()

    async def end(self, guest: GuestSession, why: str, cut: bool = False) -> None:
        """Stop a guest's session once; `cut`: the streamer removed them (already logged)."""
        stage = self.guests.get(guest.publisher.stream_id, {})
        if stage.get(guest.slot) is not guest:
            return
        del stage[guest.slot]
        await guest.publisher.close()
        stream_id = guest.publisher.stream_id
        invitation, _ = self.directory.guest(stream_id, guest.user_id)
        if not cut and invitation is not None and invitation["status"] == "live":
            await self._append(
                LEFT,
                stream_id,
                guest.user_id,
                invite_id=guest.invite_id,
                guest_id=guest.user_id,
                reason="left",
            )
        log.info("guest %s left the stage of %s (%s)", guest.user_id, stream_id, why)

    async def end_stage(self, stream_id: str) -> None:
        for guest in list(self.guests.get(stream_id, {}).values()):
            await self.end(guest, "the host's stream ended")
        self.guests.pop(stream_id, None)

    async def _watch(self, guest: GuestSession) -> None:
        """Join the stage once media flows; follow mutes; end on a stall or a removal."""
        stream_id, stage = guest.publisher.stream_id, guest.publisher.stage
        while self.guests.get(stream_id, {}).get(guest.slot) is guest:
            invitation, guest.muted = self.directory.guest(stream_id, guest.user_id)
            status = None if invitation is None else invitation["status"]
            if status not in ("accepted", "live"):
                log.info("guest %s of %s removed (%s): cut", guest.user_id, stream_id, status)
                await self.end(guest, f"invitation {status}", cut=True)
                return
            if not guest.joined and stage.video_frames:
                guest.joined = True
                stage.request_keyframe()  # for viewers already waiting on this slot
                if status == "accepted":
                    await self._append(
                        JOINED,
                        stream_id,
                        guest.user_id,
                        invite_id=guest.invite_id,
                        guest_id=guest.user_id,
                    )
            allowed = self._timeout if stage.video_frames else max(self._timeout, CONNECT_SECONDS)
            if time.monotonic() - stage.last_frame_at > allowed:
                await self.end(guest, "stalled")
                return
            await asyncio.sleep(0.1)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
