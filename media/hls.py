"""HLS over HTTP: the live ladder (`/hls/{stream_id}/...`) from the ladder's folder, and
recordings (`/vod/{stream_id}/{ingest_id}/...`) from S3, with the caching a CDN needs: segments
never change once listed (a year, immutable), live playlists change every segment (1 s).

HLS viewers are counted like WHEP sessions (streams/presence.py): the master playlist gives each
player a session id, written into the URLs of the rendition playlists it lists; each fetch of a
rendition playlist with that id is the session's heartbeat, and a session not heard from for
`SESSION_TIMEOUT_SECONDS` has left. A playlist fetched without a session id is served, uncounted.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minio.error import S3Error
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from media.ladder import MASTER, PLAYLIST
from media.recording import M3U8, TS, recording_prefix
from streams.presence import PresenceLog, anonymous_viewer, device_of

if TYPE_CHECKING:
    from media.runtime import MediaRuntime

SESSION_TIMEOUT_SECONDS = 15.0  # a player reloads its playlist every segment (1 s)
MAX_SESSIONS = 50_000
LIVE_PLAYLIST_CACHE = "public, max-age=1"
MASTER_CACHE = "private, no-store"  # it gives each player its own session id
NOT_YET = {"Retry-After": "1", "Cache-Control": "no-store"}
SEGMENT_CACHE = "public, max-age=31536000, immutable"
SESSION = re.compile(r"[0-9a-f]{32}")
SEGMENT = re.compile(r"\d{5,9}\.ts")
RENDITION = re.compile(r"[0-9a-z]{1,16}")
INGEST = re.compile(r"[0-9a-f]{32}")


@dataclass
class _Session:
    stream_id: str
    presence_id: str
    seen_at: float


class HlsAudience:
    def __init__(self, presence: PresenceLog):
        self.presence = presence
        self.sessions: dict[str, _Session] = {}

    def seen(self, session_id: str, stream_id: str, user_agent: str | None) -> None:
        session = self.sessions.get(session_id)
        if session is not None and session.stream_id == stream_id:
            session.seen_at = time.monotonic()
            return
        if session is not None:
            self.presence.leave(session.presence_id)
        elif len(self.sessions) >= MAX_SESSIONS:
            return
        presence_id = self.presence.join(stream_id, anonymous_viewer(), device_of(user_agent))
        self.sessions[session_id] = _Session(stream_id, presence_id, time.monotonic())

    def sweep(self, stream_id: str | None = None) -> None:
        """Sessions silent past the timeout (or all of an ended stream's) have left."""
        deadline = time.monotonic() - SESSION_TIMEOUT_SECONDS
        for session_id, session in list(self.sessions.items()):
            if session.seen_at < deadline or session.stream_id == stream_id:
                del self.sessions[session_id]
                self.presence.leave(session.presence_id)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.sweep()


def _runtime(request: Request) -> MediaRuntime:
    runtime: MediaRuntime = request.app.state.runtime
    return runtime


def _not_found(what: str) -> Response:
    return PlainTextResponse(what, 404, headers={"Cache-Control": "no-store"})


def _session_of(request: Request) -> str | None:
    session = request.query_params.get("session")
    return session if session is not None and SESSION.fullmatch(session) else None


async def live(request: Request) -> Response:
    """`/hls/{stream_id}/master.m3u8`, `.../{rendition}/index.m3u8`, `.../{rendition}/N.ts`."""
    runtime = _runtime(request)
    stream_id, path = request.path_params["stream_id"], request.path_params["path"]
    broadcast = runtime.broadcasts.live.get(stream_id)
    if broadcast is None:
        return _not_found(f"stream {stream_id!r} is not live over HLS here")
    if request.query_params.get("session") is not None and _session_of(request) is None:
        return PlainTextResponse("session must be the id the master playlist gave", 400)
    folder = broadcast.folder
    if path == MASTER:
        try:
            master = (folder / MASTER).read_text()
        except FileNotFoundError:
            return PlainTextResponse(
                "the ladder's first segments are not written yet", 404, NOT_YET
            )
        session = _session_of(request) or uuid.uuid4().hex
        runtime.hls_audience.seen(session, stream_id, request.headers.get("user-agent"))
        return Response(
            with_session(master, session), headers=_cache(MASTER_CACHE), media_type=M3U8
        )
    rendition, _, name = path.partition("/")
    if rendition not in broadcast.ladder.renditions or not (
        name == PLAYLIST or SEGMENT.fullmatch(name)
    ):
        return _not_found(f"no {path!r} in stream {stream_id!r}'s ladder")
    file = folder / rendition / name
    if name == PLAYLIST:
        try:
            playlist = file.read_text()
        except FileNotFoundError:
            return PlainTextResponse("not written yet", 404, NOT_YET)
        if (counted := _session_of(request)) is not None:
            runtime.hls_audience.seen(counted, stream_id, request.headers.get("user-agent"))
        return Response(playlist, headers=_cache(LIVE_PLAYLIST_CACHE), media_type=M3U8)
    if not file.exists():
        return _not_found(f"segment {path!r} is not (or no longer) on this server")
    return FileResponse(file, media_type=TS, headers=_cache(SEGMENT_CACHE))


def with_session(master: str, session: str) -> str:
    """The master playlist with the player's session id on every playlist it names."""
    return (
        "\n".join(
            f"{line}?session={session}" if line.strip() and not line.startswith("#") else line
            for line in master.splitlines()
        )
        + "\n"
    )


async def recorded(request: Request) -> Response:
    """`/vod/{stream_id}/{ingest_id}/{path}`: a recording's object in S3, as stored."""
    runtime = _runtime(request)
    stream_id, ingest_id = request.path_params["stream_id"], request.path_params["ingest_id"]
    path = request.path_params["path"]
    rendition, _, name = path.partition("/")
    valid = path == MASTER or (
        RENDITION.fullmatch(rendition) is not None
        and (name == PLAYLIST or SEGMENT.fullmatch(name) is not None)
    )
    if not INGEST.fullmatch(ingest_id) or not valid or "/" in stream_id:
        return _not_found(f"no recording object {path!r}")
    key = f"{recording_prefix(stream_id, ingest_id)}/{path}"
    bucket = runtime.settings.media_recording_bucket
    try:
        data = await asyncio.to_thread(_read_object, runtime, bucket, key)
    except S3Error as missing:
        if missing.code in ("NoSuchKey", "NoSuchBucket"):
            return _not_found(f"no recording object {path!r} (is the recording finished?)")
        raise
    media_type = TS if name.endswith(".ts") else M3U8
    return Response(data, media_type=media_type, headers=_cache(SEGMENT_CACHE))


def _read_object(runtime: MediaRuntime, bucket: str, key: str) -> bytes:
    answer = runtime.broadcasts.store.get_object(bucket, key)
    try:
        return answer.read()
    finally:
        answer.close()
        answer.release_conn()


def _cache(policy: str) -> dict[str, str]:
    return {"Cache-Control": policy}
