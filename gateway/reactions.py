"""Reactions: send one (or a few at once) to a live stream; counts per kind and window."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import ApiError
from gateway.reads import Read, ready_gateway, stream_view
from gateway.writes import Context, Who, Write


async def reactions_on(context: Context) -> None:
    stream = context.gateway.store.view("stream", context.stream_id) or {}
    if stream.get("reactions_enabled") is False:
        raise ApiError(409, "reactions_off", "the streamer turned reactions off")


WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/reactions",
        "livefold.reactions.ReactionSent",
        "React (kind is one of the platform's reaction kinds; count 1..100)",
        Who.ANYONE,
        prepare=reactions_on,
        socket_name="reactions.send",
    )
]


async def reaction_counts(request: Request) -> Response:
    """Reaction counts: the latest one-second window and the totals per kind."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    counts = gateway.store.view("reactions", stream_id)
    return JSONResponse(counts or {"stream_id": stream_id, "totals": {}, "total": 0})


READS = [Read("/streams/{stream_id}/reactions", reaction_counts, "Reaction counts")]
