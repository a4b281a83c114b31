"""Clips and VODs: viewers cut clips; recordings (VODs) come from the media pipeline. The media
fold (`livefold.media`) lists them on the "media" channel, keyed `<stream>/clip/<id>` and
`<stream>/vod/<id>`: a clip only once moderation allowed its title and its author. And where
the media service is reached (`/media-endpoints`): WHIP, WHEP and RTMP addresses for the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.reads import CURSOR, LIMIT, Read, page, ready_gateway, stream_view
from gateway.runtime import gateway_of
from gateway.writes import Who, Write
from livefold.media import CHANNEL, CLIP_CREATED

WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/clips",
        CLIP_CREATED,
        "Cut a clip (offsets in ms into the recording; at most 5 minutes long)",
        Who.ANYONE,
        generated=("clip_id",),
    )
]


def listing(kind: str) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        gateway = ready_gateway(request)
        stream_id = request.path_params["stream_id"]
        stream_view(gateway, stream_id)
        found = gateway.store.views(CHANNEL, stream_id, f"{stream_id}/{kind}/")
        found.sort(key=lambda item: -int(item["at"]))
        return JSONResponse(page(found, request))

    handle.__doc__ = f"The stream's {kind}s, newest first"
    return handle


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
]
