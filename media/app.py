"""The media service's HTTP API: WHIP ingest (RFC 9725) and WHEP playback.

- `POST /whip/{stream_id}`, body an SDP offer (`application/sdp`), `Authorization: Bearer
  <stream key>` → 201, the SDP answer, `Location: /whip/{stream_id}/{session}`; `DELETE` on that
  (same key) stops publishing and ends the stream.
- `POST /whep/{stream_id}`, an SDP offer that receives → 201, the answer, `Location`; `DELETE`
  leaves. Anyone may watch a live stream, as anyone may read it through the gateway.
- `PATCH` on either location, `application/trickle-ice-sdpfrag` (RFC 8840): more ICE
  candidates → 204 (412 if `If-Match` names another session, 501 for an ICE restart).
Errors are `text/plain` reasons: 400 malformed SDP, 401/403 a missing or wrong key (logged with
the key's fingerprint, never the key), 404 unknown stream or session, 409 a second publisher or
an ended stream, 413 an oversized offer, 415 not `application/sdp` or unsupported codecs (named),
503 too many sessions (with `Retry-After`). CORS is open: browsers publish and play from any
page, and a bearer key, not a cookie, is what authorizes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from livefold.access.tokens import AuthError
from livefold.guests import Guest
from livefold.settings import Settings
from livefold.stream_keys import (
    KEY_PREFIX,
    Finished,
    NotFound,
    StreamEntry,
    WrongKey,
    fingerprint,
)
from media import hls, rtmp_door
from media.costream import StageFull
from media.directory import Behind
from media.peers import OfferError, check_offer
from media.pool import Busy
from media.runtime import Conflict, MediaRuntime

log = logging.getLogger(__name__)
SDP = "application/sdp"
TRICKLE = "application/trickle-ice-sdpfrag"
MAX_OFFER_BYTES = 64 * 1024


class Refusal(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers


def runtime_of(request: Request) -> MediaRuntime:
    runtime: MediaRuntime = request.app.state.runtime
    if not runtime.ready:
        raise Refusal(503, "the media service is still reading the log", {"Retry-After": "1"})
    return runtime


def bearer(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


async def read_offer(request: Request) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != SDP:
        raise Refusal(415, f"send the SDP offer as Content-Type: {SDP}")
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_OFFER_BYTES:
                raise Refusal(413, f"an SDP offer is at most {MAX_OFFER_BYTES} bytes")
    except ClientDisconnect:
        raise Refusal(400, "the client left before sending its offer") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "malformed SDP: not UTF-8") from None


async def admitted(runtime: MediaRuntime, request: Request, stream_id: str) -> StreamEntry:
    key = bearer(request)
    try:
        return await runtime.directory.admit(stream_id, key)
    except Behind as behind:
        raise Refusal(503, str(behind), {"Retry-After": "2"}) from None
    except NotFound as refused:
        raise Refusal(404, str(refused)) from None
    except WrongKey as refused:
        seen = "no key" if key is None else f"key fingerprint {fingerprint(key)}"
        client = request.client.host if request.client else "?"
        log.warning("refused a publisher of %s from %s: %s (%s)", stream_id, client, refused, seen)
        raise Refusal(
            401 if key is None else 403,
            str(refused),
            {"WWW-Authenticate": 'Bearer realm="livefold-whip"'},
        ) from None
    except Finished as refused:
        raise Refusal(409, str(refused)) from None


def created(answer: str, location: str, session_id: str) -> Response:
    headers = {"Location": location, "ETag": f'"{session_id}"', "Accept-Patch": TRICKLE}
    return Response(answer, 201, media_type=SDP, headers=headers)


async def read_fragment(request: Request, session_id: str) -> str:
    """A trickle ICE PATCH's body (RFC 9725 section 4.3.1), after its headers are checked."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != TRICKLE:
        raise Refusal(415, f"send candidates as Content-Type: {TRICKLE}", {"Accept-Patch": TRICKLE})
    match = request.headers.get("if-match")
    if match is not None and match.strip() not in ("*", f'"{session_id}"'):
        raise Refusal(412, "If-Match does not name this session's entity tag")
    body = await request.body()
    if len(body) > MAX_OFFER_BYTES:
        raise Refusal(413, f"a fragment is at most {MAX_OFFER_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "malformed SDP fragment: not UTF-8") from None


async def guest_of(runtime: MediaRuntime, request: Request, stream_id: str) -> tuple[str, Guest]:
    """A co-streaming guest, from their own access token: (user id, accepted invitation)."""
    challenge = {"WWW-Authenticate": 'Bearer realm="livefold-whip"'}
    try:
        principal = runtime.verifier().verify(bearer(request) or "")
    except AuthError as refused:
        raise Refusal(
            401, f"neither a stream key nor a valid access token: {refused}", challenge
        ) from None
    try:
        _, invitation = await runtime.directory.admit_guest(stream_id, principal.user_id)
    except Behind as behind:
        raise Refusal(503, str(behind), {"Retry-After": "2"}) from None
    except NotFound as refused:
        raise Refusal(404, str(refused)) from None
    except WrongKey as refused:
        log.warning("refused a guest of %s: %s", stream_id, refused)
        raise Refusal(403, str(refused), challenge) from None
    except Finished as refused:
        raise Refusal(409, str(refused)) from None
    return principal.user_id, invitation


async def whip(request: Request) -> Response:
    """Publish: the offer's media become the stream's (a stream key), or a guest's on its
    stage (the guest's access token, media/costream.py)."""
    runtime = runtime_of(request)
    stream_id = request.path_params["stream_id"]
    credential = bearer(request)
    if credential is not None and not credential.startswith(KEY_PREFIX):
        user_id, invitation = await guest_of(runtime, request, stream_id)
        offer = await read_offer(request)
        check_offer(offer, publishing=True)
        guest, answer = await runtime.publish_guest(
            stream_id, user_id, invitation["invite_id"], offer
        )
        log.info("guest %s joins the stage of %s in slot %d", user_id, stream_id, guest.slot)
        session_id = guest.publisher.session_id
        return created(answer, f"/whip/{stream_id}/{session_id}", session_id)
    entry = await admitted(runtime, request, stream_id)
    offer = await read_offer(request)
    check_offer(offer, publishing=True)
    publisher, answer = await runtime.publish(entry, stream_id, offer)
    log.info("publisher %s of %s connected", publisher.session_id, stream_id)
    session_id = publisher.session_id
    return created(answer, f"/whip/{stream_id}/{session_id}", session_id)


async def whip_stop(request: Request) -> Response:
    runtime = runtime_of(request)
    stream_id, session_id = request.path_params["stream_id"], request.path_params["session_id"]
    guest = runtime.stages.find(stream_id, session_id)
    if guest is not None:
        user_id, _ = await guest_of(runtime, request, stream_id)
        if user_id != guest.user_id:
            raise Refusal(403, "only the guest ends their own session")
        await runtime.stages.end(guest, "DELETE")
        return Response(status_code=200)
    await admitted(runtime, request, stream_id)
    publisher = runtime.publishers.get(stream_id)
    if publisher is None or publisher.session_id != session_id:
        raise Refusal(404, f"no publishing session {session_id!r} on {stream_id!r}")
    await runtime.end(publisher, "ended", "streamer_ended")
    return Response(status_code=200)


async def stage_layout(request: Request) -> Response:
    """Who is in which slot of the stage: the order of a WHEP answer's video and audio."""
    runtime = runtime_of(request)
    stream_id = request.path_params["stream_id"]
    host = runtime.publishers.get(stream_id)
    if host is None:
        raise Refusal(404, f"stream {stream_id!r} is not live here")
    slots = [{"slot": 0, "user_id": host.streamer, "role": "host", "muted": False}]
    return JSONResponse({"stream_id": stream_id, "slots": slots + runtime.stages.layout(stream_id)})


async def whip_trickle(request: Request) -> Response:
    """More ICE candidates of a publisher (trickle ICE); 204 once aiortc has them."""
    runtime = runtime_of(request)
    stream_id, session_id = request.path_params["stream_id"], request.path_params["session_id"]
    await admitted(runtime, request, stream_id)
    fragment = await read_fragment(request, session_id)
    try:
        await runtime.trickle(stream_id, session_id, fragment)
    except LookupError as missing:
        raise Refusal(404, str(missing.args[0])) from None
    return Response(status_code=204)


async def whep(request: Request) -> Response:
    """Watch: the publisher's encoded media, forwarded as they are."""
    runtime = runtime_of(request)
    stream_id = request.path_params["stream_id"]
    offer = await read_offer(request)
    check_offer(offer, publishing=False)
    try:
        session_id, answer = await runtime.watch(
            stream_id, offer, request.headers.get("user-agent")
        )
    except LookupError as missing:
        raise Refusal(404, str(missing.args[0])) from None
    return created(answer, f"/whep/{stream_id}/{session_id}", session_id)


async def whep_stop(request: Request) -> Response:
    runtime = runtime_of(request)
    session_id = request.path_params["session_id"]
    if runtime.viewers.watchers.get(session_id) != request.path_params["stream_id"]:
        raise Refusal(404, f"no viewing session {session_id!r}")
    await runtime.viewers.leave(session_id)
    return Response(status_code=200)


async def whep_trickle(request: Request) -> Response:
    """More ICE candidates of a viewer, handed to its fan-out process; 204 once added."""
    runtime = runtime_of(request)
    session_id = request.path_params["session_id"]
    if runtime.viewers.watchers.get(session_id) != request.path_params["stream_id"]:
        raise Refusal(404, f"no viewing session {session_id!r}")
    fragment = await read_fragment(request, session_id)
    try:
        await runtime.pool.candidates(session_id, fragment)
    except LookupError as missing:
        raise Refusal(404, str(missing.args[0])) from None
    return Response(status_code=204)


async def live(request: Request) -> Response:
    """Liveness: 200 while the loop answers and the directory follows the log; 503 says why."""
    runtime: MediaRuntime = request.app.state.runtime
    failure = runtime.directory.failure
    if failure is not None:
        return JSONResponse({"live": False, "failure": repr(failure)}, 503)
    return JSONResponse({"live": True}, 200)


async def ready(request: Request) -> Response:
    """Readiness: 200 once the directory read the log to where it ended at start, while live."""
    runtime: MediaRuntime = request.app.state.runtime
    is_ready = runtime.ready and runtime.directory.failure is None
    body = {
        "ready": is_ready,
        "publishers": len(runtime.publishers),
        "viewers": len(runtime.viewers.watchers),
        "fanout": [
            {"pid": worker.process.pid, "viewers": len(worker.viewers)}
            for worker in runtime.pool.alive
        ],
    }
    return JSONResponse(body, 200 if is_ready else 503)


async def on_refusal(request: Request, error: Exception) -> Response:
    if isinstance(error, OfferError):
        return PlainTextResponse(str(error), error.status)
    if isinstance(error, Conflict | StageFull):
        return PlainTextResponse(str(error), 409)
    if isinstance(error, Busy):
        return PlainTextResponse(str(error), 503, {"Retry-After": str(error.retry_after)})
    assert isinstance(error, Refusal)
    return PlainTextResponse(error.reason, error.status, error.headers)


def create_app(settings: Settings) -> Starlette:
    runtime = MediaRuntime(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        rtmp_server = await rtmp_door.serve(runtime)
        try:
            yield
        finally:
            rtmp_server.close()
            await runtime.stop()

    app = Starlette(
        routes=[
            Route("/health", ready),  # the readiness probe's first address, as the gateway's
            Route("/health/ready", ready),
            Route("/health/live", live),
            Route("/whip/{stream_id}", whip, methods=["POST"]),
            Route("/whip/{stream_id}/{session_id}", whip_stop, methods=["DELETE"]),
            Route("/whip/{stream_id}/{session_id}", whip_trickle, methods=["PATCH"]),
            Route("/whep/{stream_id}", whep, methods=["POST"]),
            Route("/whep/{stream_id}/stage", stage_layout, methods=["GET"]),
            Route("/whep/{stream_id}/{session_id}", whep_stop, methods=["DELETE"]),
            Route("/whep/{stream_id}/{session_id}", whep_trickle, methods=["PATCH"]),
            Route("/hls/{stream_id}/{path:path}", hls.live, methods=["GET", "HEAD"]),
            Route(
                "/vod/{stream_id}/{ingest_id}/{path:path}", hls.recorded, methods=["GET", "HEAD"]
            ),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "If-Match"],
                expose_headers=["Location", "ETag", "Accept-Patch"],
                max_age=600,
            )
        ],
        exception_handlers={
            Refusal: on_refusal,
            OfferError: on_refusal,
            Conflict: on_refusal,
            StageFull: on_refusal,
            Busy: on_refusal,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
