"""Clips and VODs: viewers cut clips; recordings (VODs) come from the media pipeline. No fold
keeps them, so each gateway lists them from the media event topic itself (`as_state`, read by
the state feed) as updates of a "media" channel keyed `<stream>/clip/<id>`, `<stream>/vod/<id>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.reads import CURSOR, LIMIT, Read, page, ready_gateway, stream_view
from gateway.writes import Who, Write
from streams.catalog import event_topic
from streams.codec import Codec
from streams.state import StateMessage

CHANNEL = "media"
TOPIC = event_topic("media")
CLIP_CREATED = "livefold.media.ClipCreated"
RECORDING_FINISHED = "livefold.media.RecordingFinished"

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


def reader(codec: Codec) -> Callable[[bytes], StateMessage | None]:
    def as_state(value: bytes) -> StateMessage | None:
        event = codec.decode(value)
        if event.type == CLIP_CREATED:
            key = f"{event.stream_id}/clip/{event.body['clip_id']}"
        elif event.type == RECORDING_FINISHED:
            key = f"{event.stream_id}/vod/{event.body['recording_id']}"
        else:
            return None
        listed: dict[str, Any] = {
            "stream_id": event.stream_id,
            "by": event.actor_id,
            "at": event.occurred_at_ms,
            **event.payload(),
        }
        return StateMessage("update", CHANNEL, key, event.stream_id, None, listed)

    return as_state


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


READS = [
    Read("/streams/{stream_id}/clips", listing("clip"), "Clips", query=(LIMIT, CURSOR)),
    Read("/streams/{stream_id}/vods", listing("vod"), "Recordings (VODs)", query=(LIMIT, CURSOR)),
]
