"""Viewer presence as events, appended by whatever serves viewers: the gateway for sockets
subscribed to a stream (gateway/ws.py), the media service for WHEP and HLS sessions.

A `PresenceLog` is told when a viewing session starts and ends and appends `ViewerJoined` and
`ViewerLeft`; in between, `beat` appends one `ViewerHeartbeat` per session every
`heartbeat_seconds`, each session on its own schedule (from its join), so heartbeats spread
evenly instead of arriving in bursts. Every join and heartbeat declares the session's timeout,
twice the interval: if the process dies without a word, the audience fold ends its sessions
once that much event time passed without a heartbeat (livefold/audience.py).

Cost: with 30 s heartbeats, 10 000 watching sockets append about 333 events a second
(`python -m bench presence`). Appends are fire-and-forget: presence is observed, not a client's
write, and a lost heartbeat only shortens the session by the timeout at worst.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livefold import audience
from streams.events import Event, new_event

Append = Callable[[Event], None]

DEVICE_PATTERNS = (  # first match wins: tablets and TVs also claim to be mobile or Linux
    ("tv", re.compile(r"smart-?tv|\btv\b|appletv|googletv|roku|crkey|tizen|webos|bravia", re.I)),
    ("tablet", re.compile(r"ipad|tablet|kindle|silk|android(?!.*mobile)", re.I)),
    ("phone", re.compile(r"mobi|iphone|ipod|android|windows phone", re.I)),
    ("desktop", re.compile(r"windows|macintosh|mac os x|x11|linux|cros", re.I)),
)


def device_of(user_agent: str | None) -> str:
    """The `DeviceKind` a User-Agent names, "other" if none."""
    for kind, pattern in DEVICE_PATTERNS:
        if user_agent and pattern.search(user_agent):
            return kind
    return "other"


def anonymous_viewer() -> str:
    """A viewer id for someone not signed in: one per connection (two devices, two viewers)."""
    return f"anon-{uuid.uuid4()}"


@dataclass(slots=True)
class Watching:
    stream_id: str
    viewer_id: str
    due: float  # monotonic time of the next heartbeat


class PresenceLog:
    def __init__(
        self,
        append: Append,
        heartbeat_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.append = append
        self.heartbeat_seconds = heartbeat_seconds
        self.timeout_ms = min(max(int(2_000 * heartbeat_seconds), 1_000), 3_600_000)
        self.clock = clock
        self.sessions: dict[str, Watching] = {}  # by session id, next heartbeat due first

    def join(
        self, stream_id: str, viewer_id: str, device: str = "other", country: str | None = None
    ) -> str:
        """A session starts; its id, for `leave`."""
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = Watching(
            stream_id, viewer_id, self.clock() + self.heartbeat_seconds
        )
        self._append(
            audience.VIEWER_JOINED,
            stream_id,
            viewer_id,
            session_id=session_id,
            device=device,
            country=country,
            timeout_ms=self.timeout_ms,
        )
        return session_id

    def leave(self, session_id: str) -> None:
        watching = self.sessions.pop(session_id, None)
        if watching is not None:
            self._append(
                audience.VIEWER_LEFT,
                watching.stream_id,
                watching.viewer_id,
                session_id=session_id,
            )

    def leave_all(self) -> None:
        """Every session ends (the process stops)."""
        for session_id in list(self.sessions):
            self.leave(session_id)

    def beat(self) -> int:
        """Append the heartbeats due by now; how many."""
        now = self.clock()
        due = []
        for session_id, watching in self.sessions.items():  # next due first
            if watching.due > now:
                break
            due.append(session_id)
        for session_id in due:
            watching = self.sessions.pop(session_id)
            watching.due = now + self.heartbeat_seconds
            self.sessions[session_id] = watching
            self._append(
                audience.VIEWER_HEARTBEAT,
                watching.stream_id,
                watching.viewer_id,
                session_id=session_id,
                timeout_ms=self.timeout_ms,
            )
        return len(due)

    @property
    def tick_seconds(self) -> float:
        """How often `beat` should be called: heartbeats are at most this late."""
        return min(1.0, self.heartbeat_seconds / 4)

    def _append(self, event_type: str, stream_id: str, viewer_id: str, **payload: Any) -> None:
        self.append(
            new_event(
                event_type,
                stream_id=stream_id,
                actor_id=viewer_id,
                viewer_id=viewer_id,
                **payload,
            )
        )
