"""Clips and VODs: viewers cut clips; recordings (VODs) come from the media pipeline. The media
fold (`livefold.media`) lists them on the "media" channel, keyed `<stream>/clip/<id>` and
`<stream>/vod/<id>`: a clip only once moderation allowed its title and its author, with its
status (processing, ready, failed).

A clip is a range of one recording (one ingest), in ms from the recording's start (when its
ingest started): `start_offset_ms` and `end_offset_ms` of a recording (`recording_id`, default
the live one, else the newest), or `last_ms` (5..60 s) of the live stream. The gateway
checks the range against what it folded (the live stream's age, a VOD's duration) and answers
4xx with the reason; the media service cuts it and appends ClipReady or ClipFailed.

A clip's MP4 and thumbnail and a live stream's thumbnail are answered with a redirect to a
presigned S3 URL (`gateway/objects.py`); a recording plays from the media service's HLS VOD
playlist (`playlist_url`, media/hls.py).

And where the media service is reached (`/media-endpoints`): WHIP, WHEP and RTMP addresses for
the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import ApiError, invalid, not_found
from gateway.objects import object_redirect
from gateway.reads import CURSOR, LIMIT, Read, page, ready_gateway, stream_view
from gateway.runtime import Gateway, gateway_of
from gateway.writes import API, Context, Who, Write
from livefold.media import CHANNEL, CLIP_CREATED
from streams.validation import CLIP_MAX_MS, FieldError

LIVE_CLIP_MS = (5_000, 60_000)  # `last_ms` of a live stream
LIVE_SLACK_MS = 2_000  # a live range may end this far past the stream's age (clock skew)


def ingest_of(gateway: Gateway, stream_id: str) -> dict[str, Any] | None:
    """The stream's latest ingest (the media fold's `<stream>/ingest`): its recording's id and
    start, and whether it is still live."""
    return gateway.store.view(CHANNEL, f"{stream_id}/ingest")


def vods_of(gateway: Gateway, stream_id: str) -> list[dict[str, Any]]:
    found = gateway.store.views(CHANNEL, stream_id, f"{stream_id}/vod/")
    return sorted(found, key=lambda vod: -int(vod["at"]))


async def clip_range(context: Context) -> None:
    """Which recording the clip is cut from, and whether the range lies inside it."""
    payload, stream_id = context.payload, context.stream_id
    stream = stream_view(context.gateway, stream_id)
    last_ms = payload.pop("last_ms", None)
    vods = {str(vod["recording_id"]): vod for vod in vods_of(context.gateway, stream_id)}
    ingest = ingest_of(context.gateway, stream_id) or {}
    is_live = stream["status"] == "live" and ingest.get("status") == "live"
    live = ingest.get("ingest_id") if is_live else None
    asked = payload.get("recording_id")
    if asked is not None and not isinstance(asked, str):
        raise invalid([FieldError("recording_id", "must be a string")])
    recording_id = asked or live or next(iter(vods), None)
    if recording_id is None:
        raise ApiError(
            409, "no_media", f"stream {stream_id} has no recording to clip: no video reached it"
        )
    if recording_id in vods:
        length, slack = int(vods[recording_id]["duration_ms"]), 0
    elif recording_id == live:
        length, slack = int(time.time() * 1000) - int(ingest["started_at"]), LIVE_SLACK_MS
    else:
        raise not_found(f"finished recording {recording_id!r} of stream {stream_id!r}")
    payload["recording_id"] = recording_id
    if last_ms is not None:
        payload.update(_last(last_ms, length, recording_id == live and recording_id not in vods))
    start, end = payload.get("start_offset_ms"), payload.get("end_offset_ms")
    if not (isinstance(start, int) and isinstance(end, int) and 0 < end - start <= CLIP_MAX_MS):
        return  # not a range: the codec's rules say why
    if end > length + slack:
        reason = f"is past the end of recording {recording_id} ({length} ms long)"
        raise invalid([FieldError("end_offset_ms", reason)], "the range is outside the recording")


def _last(last_ms: Any, length: int, live: bool) -> dict[str, int]:
    low, high = LIVE_CLIP_MS
    if not live:
        reason = "is for a live stream; give start_offset_ms and end_offset_ms for a recording"
        raise invalid([FieldError("last_ms", reason)])
    if not isinstance(last_ms, int) or isinstance(last_ms, bool) or not low <= last_ms <= high:
        raise invalid([FieldError("last_ms", f"must be an integer between {low} and {high}")])
    return {"start_offset_ms": max(0, length - last_ms), "end_offset_ms": length}


WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/clips",
        CLIP_CREATED,
        "Cut a clip: start_offset_ms and end_offset_ms (ms into a recording, at most 5 minutes;"
        " recording_id defaults to the newest), or last_ms (5000..60000) of the live stream",
        Who.ANYONE,
        generated=("clip_id",),
        prepare=clip_range,
        extra_fields={
            "last_ms": {
                "type": "integer",
                "minimum": LIVE_CLIP_MS[0],
                "maximum": LIVE_CLIP_MS[1],
                "description": "the last ms of the live stream, instead of the offsets",
            }
        },
        optional=("start_offset_ms", "end_offset_ms"),
    )
]


def listing(kind: str) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        gateway = ready_gateway(request)
        stream_id = request.path_params["stream_id"]
        stream_view(gateway, stream_id)
        found = gateway.store.views(CHANNEL, stream_id, f"{stream_id}/{kind}/")
        found.sort(key=lambda item: -int(item["at"]))
        return JSONResponse(page([shown(gateway, kind, item) for item in found], request))

    handle.__doc__ = f"The stream's {kind}s, newest first"
    return handle


def shown(gateway: Gateway, kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """A listing with the addresses a player uses (a clip's relative to the gateway)."""
    if kind == "vod":
        path = f"/vod/{item['stream_id']}/{item['recording_id']}/master.m3u8"
        return {**item, "playlist_url": gateway.settings.media_url + path}
    links = {"url": f"{API}/clips/{item['clip_id']}"}
    if item.get("status") == "ready":
        links["video_url"] = f"{API}/clips/{item['clip_id']}/video"
        links["thumbnail_url"] = f"{API}/clips/{item['clip_id']}/thumbnail"
    return {**item, **links}


def find_clip(gateway: Gateway, clip_id: str) -> dict[str, Any]:
    # A clip's id does not name its stream: look in every stream's media state (one dict
    # lookup each), which is cheap next to the request itself.
    for (channel, stream_id), state in gateway.store.channels.items():
        entry = state.updates.get(f"{stream_id}/clip/{clip_id}") if channel == CHANNEL else None
        if entry is not None:
            return gateway.store.shown(CHANNEL, entry.value)
    raise not_found(f"clip {clip_id!r}")


async def clip(request: Request) -> Response:
    """One clip (the address to share): its status, range, title, and where to play it"""
    gateway = ready_gateway(request)
    found = find_clip(gateway, request.path_params["clip_id"])
    return JSONResponse(shown(gateway, "clip", found))


def clip_object(field: str) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        gateway = ready_gateway(request)
        found = find_clip(gateway, request.path_params["clip_id"])
        if found.get("status") != "ready":
            why = found.get("reason") or "it is still being cut"
            raise ApiError(409, "not_ready", f"clip {found['clip_id']} cannot play: {why}")
        return await object_redirect(gateway, str(found["bucket"]), str(found[field]))

    handle.__doc__ = f"Redirect to the clip's {field.removesuffix('_key')} (a presigned URL)"
    return handle


async def stream_thumbnail(request: Request) -> Response:
    """Redirect to the stream's newest thumbnail (a presigned URL), refreshed while it is live"""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    thumbnail = stream_view(gateway, stream_id).get("thumbnail")
    if not thumbnail:
        raise not_found(f"a thumbnail of stream {stream_id!r}")
    return await object_redirect(gateway, str(thumbnail["bucket"]), str(thumbnail["key"]))


async def vod(request: Request) -> Response:
    """One recording: its duration and the address of its HLS VOD playlist"""
    gateway = ready_gateway(request)
    stream_id, recording_id = request.path_params["stream_id"], request.path_params["recording"]
    stream_view(gateway, stream_id)
    found = gateway.store.view(CHANNEL, f"{stream_id}/vod/{recording_id}")
    if found is None:
        raise not_found(f"recording {recording_id!r} of stream {stream_id!r}")
    return JSONResponse(shown(gateway, "vod", found))


async def media_endpoints(request: Request) -> Response:
    """Where to publish (WHIP with the stream key as bearer token; RTMP with the key as the
    last path segment) and where to watch (WHEP, HLS): templates with `{stream_id}`."""
    settings = gateway_of(request).settings
    media = settings.media_url
    host = urlsplit(media).hostname or settings.host
    return JSONResponse(
        {
            "whip": f"{media}/whip/{{stream_id}}",
            "whep": f"{media}/whep/{{stream_id}}",
            "hls": f"{media}/hls/{{stream_id}}/master.m3u8",
            "rtmp": f"rtmp://{host}:{settings.rtmp_port}/live",
        }
    )


READS = [
    Read("/media-endpoints", media_endpoints, "Where the media service takes and serves video"),
    Read("/streams/{stream_id}/clips", listing("clip"), "Clips", query=(LIMIT, CURSOR)),
    Read("/streams/{stream_id}/vods", listing("vod"), "Recordings (VODs)", query=(LIMIT, CURSOR)),
    Read("/streams/{stream_id}/vods/{recording}", vod, "A recording (VOD)"),
    Read("/streams/{stream_id}/thumbnail", stream_thumbnail, "The stream's live thumbnail"),
    Read("/clips/{clip_id}", clip, "A clip"),
    Read("/clips/{clip_id}/video", clip_object("video_key"), "A clip's MP4"),
    Read("/clips/{clip_id}/thumbnail", clip_object("thumbnail_key"), "A clip's thumbnail"),
]
