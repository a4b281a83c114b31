"""WHEP viewers: each session answered by a fan-out process (media/pool.py) and counted as a
viewer, like a gateway's sockets: `ViewerJoined`, `ViewerHeartbeat` and `ViewerLeft` through
streams/presence.py (an anonymous viewer per session: WHEP carries no sign-in)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from media.peers import Publisher
from media.pool import FanoutPool, fanout_count
from streams.presence import PresenceLog, anonymous_viewer, device_of


class WhepViewers:
    def __init__(
        self,
        fanout_processes: int,
        max_viewers: int,
        keyframe_wanted: Callable[[str, int], None],
        presence: PresenceLog,
    ):
        self.pool = FanoutPool(
            fanout_count(fanout_processes), max_viewers, keyframe_wanted, self.leave
        )
        self.presence = presence
        self.watchers: dict[str, str] = {}  # WHEP session id -> its stream (in a fan-out process)
        self._presence_ids: dict[str, str] = {}  # WHEP session id -> presence session id

    async def watch(
        self, publisher: Publisher, offer: str, user_agent: str | None = None
    ) -> tuple[str, str]:
        """(session id, answer): a fan-out process answers the viewer's offer; LookupError if
        the publisher ended meanwhile."""
        stream_id = publisher.stream_id
        assert publisher.video_codec is not None
        session_id = uuid.uuid4().hex
        self.watchers[session_id] = stream_id
        try:
            answer = await self.pool.watch(
                session_id, stream_id, offer, publisher.video_codec, publisher.audio_codec
            )
        except BaseException:
            await self.leave(session_id)
            raise
        if self.watchers.get(session_id) != stream_id:  # the publisher ended meanwhile
            await self.leave(session_id)
            raise LookupError(f"stream {stream_id!r} is not live here")
        self._presence_ids[session_id] = self.presence.join(
            stream_id, anonymous_viewer(), device_of(user_agent)
        )
        return session_id, answer

    async def leave(self, session_id: str) -> bool:
        if self.watchers.pop(session_id, None) is None:
            return False
        presence_id = self._presence_ids.pop(session_id, None)
        if presence_id is not None:
            self.presence.leave(presence_id)
        await self.pool.leave(session_id)
        return True

    async def leave_stream(self, stream_id: str) -> None:
        """Every viewer of a stream whose publisher ended."""
        for session_id, watched in list(self.watchers.items()):
            if watched == stream_id:
                await self.leave(session_id)
