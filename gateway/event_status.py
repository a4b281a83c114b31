"""`GET /api/v1/events/{event_id}`: what became of a write after its 202 (gateway/outcomes.py):
pending, applied, or rejected with the fold's reason. Only its author (or an admin) may ask."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import not_found
from gateway.reads import Read, ready_gateway
from gateway.writes import principal_of


async def event_status(request: Request) -> Response:
    gateway = ready_gateway(request)
    principal = principal_of(request)
    event_id = request.path_params["event_id"]
    found = gateway.outcomes.status(event_id)
    if found is None or (found.pop("actor_id") != principal.user_id and not principal.is_admin):
        raise not_found(f"event {event_id!r}")
    return JSONResponse(found)


READS = [
    Read(
        "/events/{event_id}",
        event_status,
        "What became of an event you wrote: pending, applied, or rejected with the reason",
    )
]
