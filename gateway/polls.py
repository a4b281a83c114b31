"""Polls: a moderator creates, opens and closes a poll; viewers vote; anyone reads results."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import not_found
from gateway.reads import Read, ready_gateway, stream_view
from gateway.writes import Who, Write

WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/polls",
        "livefold.polls.PollCreated",
        "Create a poll (2..10 options; open it to start voting)",
        Who.MODERATOR,
        generated=("poll_id",),
    ),
    Write(
        "POST",
        "/streams/{stream_id}/polls/{poll_id}/open",
        "livefold.polls.PollOpened",
        "Open a poll for votes, until closes_at (epoch ms) or its duration",
        Who.MODERATOR,
        path_fields=("poll_id",),
    ),
    Write(
        "POST",
        "/streams/{stream_id}/polls/{poll_id}/close",
        "livefold.polls.PollClosed",
        "Close a poll: its result is final",
        Who.MODERATOR,
        path_fields=("poll_id",),
        defaults={"reason": "closed_by_host"},
    ),
    Write(
        "POST",
        "/streams/{stream_id}/polls/{poll_id}/votes",
        "livefold.polls.VoteCast",
        "Vote (one option, or several in a multi-select poll)",
        Who.ANYONE,
        path_fields=("poll_id",),
        socket_name="polls.vote",
    ),
]


async def list_polls(request: Request) -> Response:
    """The stream's polls with their tallies."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    return JSONResponse({"items": gateway.store.views("polls", stream_id, f"{stream_id}/")})


async def poll_results(request: Request) -> Response:
    """One poll: status, options, tally and percentages."""
    gateway = ready_gateway(request)
    stream_id, poll_id = request.path_params["stream_id"], request.path_params["poll_id"]
    view = gateway.store.view("polls", f"{stream_id}/{poll_id}")
    if view is None:
        raise not_found(f"poll {poll_id!r} of stream {stream_id!r}")
    return JSONResponse(view)


READS = [
    Read("/streams/{stream_id}/polls", list_polls, "The stream's polls"),
    Read("/streams/{stream_id}/polls/{poll_id}", poll_results, "A poll's results"),
]
