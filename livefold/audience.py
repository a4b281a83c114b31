"""Audience per stream: concurrent viewers, peak, unique viewers, watch time, device mix, follows.

Each follow made during the stream is also a `followed` notice (who, when), which an overlay's
follow alert names; following again while following tells nothing.

Presence is kept per viewing session: a join opens it, heartbeats keep it alive, a leave ends
it, and so does silence: a session with no heartbeat for its timeout of event time (the stream's
audience clock, the latest `occurred_at` seen) no longer counts, so the sessions of a gateway
that died without saying so end once other sessions' events move the clock past their timeout.
The timeout is the one the session's last join or heartbeat declared (`timeout_ms`, about twice
the sender's heartbeat interval), else `HEARTBEAT_TIMEOUT_MS`. A viewer with
two sessions (two tabs) counts once. `Presence` and its functions are shared with `stream`.
Silence is looked for once per second of event time, from the least recently seen session on
(sessions are kept in that order), so it costs nothing per event. A session seen out of order
(a heartbeat stamped before another session's), or declaring a shorter timeout than sessions
seen before it, may outlive its timeout by that skew.

Watch time is counted from join to the last sign of life (heartbeat or leave), so a session
that vanishes adds nothing for the silence that ended it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Notice, Output, Update, apply, millis
from streams.events import Event

CHANNEL = "audience"
VIEWER_JOINED = "livefold.audience.ViewerJoined"
VIEWER_HEARTBEAT = "livefold.audience.ViewerHeartbeat"
VIEWER_LEFT = "livefold.audience.ViewerLeft"
FOLLOWED = "livefold.audience.Followed"
UNFOLLOWED = "livefold.audience.Unfollowed"
PRESENCE_EVENTS = frozenset({VIEWER_JOINED, VIEWER_HEARTBEAT, VIEWER_LEFT})
HANDLES = PRESENCE_EVENTS | {FOLLOWED, UNFOLLOWED}
FLUSH_EVERY: float | None = 1.0

HEARTBEAT_TIMEOUT_MS = 60_000
SWEEP_EVERY_MS = 1_000  # silent sessions are looked for at most once per second of event time
QUIET_MS = 5_000  # no presence event for this long: flush counts who is silent by now


class Session(TypedDict):
    viewer: str
    device: str
    joined: int
    seen: int  # last sign of life, epoch ms
    timeout: int  # ms of silence after which the session ends


class Presence(TypedDict):
    clock: int  # latest occurred_at of a presence event
    swept: int  # clock at the last search for silent sessions
    sessions: dict[str, Session]  # live sessions by id, least recently seen first
    watching: dict[str, int]  # viewer -> live sessions
    peak: int
    watch_ms: int
    devices_now: dict[str, int]  # device -> live sessions


class AudienceState(TypedDict):
    stream_id: str
    presence: Presence
    viewers: dict[str, int]  # every viewer ever seen -> first seen (epoch ms)
    sessions: int
    devices: dict[str, int]  # device -> sessions started
    countries: dict[str, int]  # country -> sessions started
    new_followers: dict[str, int]  # follower -> followed at, for follows made during the stream
    _seen: dict[str, None]
    _published: dict[str, Any]  # the last view published


def new_presence() -> Presence:
    return Presence(clock=0, swept=0, sessions={}, watching={}, peak=0, watch_ms=0, devices_now={})


def advance(presence: Presence, at: int) -> None:
    """Move the audience clock to `at`; sessions silent for the timeout since then end."""
    if at <= presence["clock"]:
        return
    presence["clock"] = at
    if at - presence["swept"] < SWEEP_EVERY_MS:
        return
    presence["swept"] = at
    silent = []
    for session_id, session in presence["sessions"].items():  # least recently seen first
        if not _silent(session, at):
            break
        silent.append(session_id)
    for session_id in silent:
        _end(presence, session_id)


def join(
    presence: Presence,
    session_id: str,
    viewer: str,
    device: str,
    at: int,
    timeout: int = HEARTBEAT_TIMEOUT_MS,
) -> None:
    """A session starts, or shows life again (a heartbeat of an unknown session rejoins)."""
    session = presence["sessions"].get(session_id)
    if session is not None and not _silent(session, at):
        session["timeout"] = timeout
        _touch(presence, session_id, at)
        return
    if session is not None:  # silent too long: it ended at its last heartbeat
        _end(presence, session_id)
    presence["sessions"][session_id] = Session(
        viewer=viewer, device=device, joined=at, seen=at, timeout=timeout
    )
    watching = presence["watching"]
    watching[viewer] = watching.get(viewer, 0) + 1
    presence["peak"] = max(presence["peak"], len(watching))
    devices = presence["devices_now"]
    devices[device] = devices.get(device, 0) + 1


def leave(presence: Presence, session_id: str, at: int) -> Session | None:
    session = presence["sessions"].get(session_id)
    if session is None:
        return None
    if not _silent(session, at):
        _touch(presence, session_id, at)
    _end(presence, session_id)
    return session


def concurrent(presence: Presence, now: int | None = None) -> int:
    """Viewers watching at the clock or, once the audience has been quiet a while before `now`,
    those whose sessions are not yet silent at `now` (a preview: only events end sessions)."""
    if now is None or now - presence["clock"] < QUIET_MS:
        return len(presence["watching"])
    return len(
        {
            session["viewer"]
            for session in presence["sessions"].values()
            if not _silent(session, now)
        }
    )


def fold_presence(presence: Presence, event: Event) -> bool:
    """Apply a join, heartbeat or leave; True if the number of viewers watching changed."""
    body = event.body
    session_id: str = body["session_id"]
    viewer: str = body["viewer_id"]
    device: str = body.get("device") or "other"
    at = event.occurred_at_ms
    before = len(presence["watching"])
    advance(presence, at)
    if event.type == VIEWER_LEFT:
        leave(presence, session_id, at)
    else:
        join(
            presence, session_id, viewer, device, at, body.get("timeout_ms") or HEARTBEAT_TIMEOUT_MS
        )
    return len(presence["watching"]) != before


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: AudienceState | None, event: Event) -> tuple[AudienceState, list[Output]]:
    if state is None:
        state = AudienceState(
            stream_id=event.stream_id,
            presence=new_presence(),
            viewers={},
            sessions=0,
            devices={},
            countries={},
            new_followers={},
            _seen={},
            _published={},
        )
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: AudienceState, now: datetime) -> tuple[AudienceState, list[Output]]:
    """Publish what changed since the last update (watch time), or, for a stream whose audience
    fell silent, the viewers that are still within their heartbeat timeout now."""
    return state, _publish(state, millis(now))


def view(state: AudienceState, now: int | None = None) -> dict[str, Any]:
    presence = state["presence"]
    return {
        "stream_id": state["stream_id"],
        "viewers": concurrent(presence, now),
        "peak_viewers": presence["peak"],
        "unique_viewers": len(state["viewers"]),
        "sessions": state["sessions"],
        "watch_ms": presence["watch_ms"],
        "devices": dict(state["devices"]),
        "devices_now": {kind: n for kind, n in presence["devices_now"].items() if n},
        "countries": dict(state["countries"]),
        "new_followers": len(state["new_followers"]),
    }


def _silent(session: Session, at: int) -> bool:
    # Sessions stored before timeouts were declared have none.
    return at - session["seen"] >= session.get("timeout", HEARTBEAT_TIMEOUT_MS)


def _touch(presence: Presence, session_id: str, at: int) -> None:
    sessions = presence["sessions"]
    session = sessions[session_id]
    if at > session["seen"]:
        presence["watch_ms"] += at - session["seen"]
        session["seen"] = at
        sessions[session_id] = sessions.pop(session_id)  # keeps the least recently seen first


def _end(presence: Presence, session_id: str) -> None:
    session = presence["sessions"].pop(session_id)
    watching = presence["watching"]
    viewer = session["viewer"]
    if watching[viewer] > 1:
        watching[viewer] -= 1
    else:
        del watching[viewer]
    presence["devices_now"][session["device"]] -= 1


def _on_presence(state: AudienceState, event: Event) -> list[Output]:
    body = event.body
    changed = fold_presence(state["presence"], event)
    if event.type == VIEWER_LEFT:
        return _publish(state) if changed else []
    state["viewers"].setdefault(body["viewer_id"], event.occurred_at_ms)
    if event.type == VIEWER_JOINED:
        state["sessions"] += 1
        _count(state["devices"], body.get("device") or "other")
        _count(state["countries"], body.get("country") or "unknown")
        return _publish(state)
    return _publish(state) if changed else []


def _on_follow(state: AudienceState, event: Event) -> list[Output]:
    follower = event.actor_id
    if event.type != FOLLOWED:
        state["new_followers"].pop(follower, None)
        return _publish(state)
    if follower in state["new_followers"]:
        return _publish(state)
    state["new_followers"][follower] = event.occurred_at_ms
    followed = {"follower": follower, "followed_at": event.occurred_at_ms}
    return [Notice(CHANNEL, state["stream_id"], "followed", followed), *_publish(state)]


def _publish(state: AudienceState, now: int | None = None) -> list[Output]:
    current = view(state, now)
    if current == state["_published"]:
        return []
    state["_published"] = current
    return [Update(CHANNEL, state["stream_id"], current)]


def _count(counts: dict[str, int], name: str) -> None:
    counts[name] = counts.get(name, 0) + 1


_HANDLERS = {
    VIEWER_JOINED: _on_presence,
    VIEWER_HEARTBEAT: _on_presence,
    VIEWER_LEFT: _on_presence,
    FOLLOWED: _on_follow,
    UNFOLLOWED: _on_follow,
}
