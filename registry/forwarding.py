"""Writes reach the elected leader: a registry that does not lead forwards the request as it
came (body, content type, credentials) and returns the leader's answer, as Confluent's
registry does. A forwarded request is never forwarded again: the leader it was sent to may
have just lost the election, and the client gets "unknown leader" (50004) to retry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from starlette.requests import Request
from starlette.responses import Response

from registry.state import RegistryError
from registry.store import NotLeader, SchemaStore

FORWARDED = "x-livefold-registry-forwarded"
Handler = Callable[[Request], Awaitable[Response]]


def written(handler: Handler) -> Handler:
    """A write route: handled here when this registry leads, forwarded to the leader otherwise."""

    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except NotLeader:
            if FORWARDED in request.headers:  # it came from a registry that took us for leader
                raise
            return await forward(request)

    return route


async def forward(request: Request) -> Response:
    store: SchemaStore = request.app.state.store
    assert store.election is not None  # a registry without an election always leads
    leader = await asyncio.to_thread(store.election.leader, store.timeout)
    if leader is None:
        raise NotLeader()
    kept = {"content-type", "accept", "authorization"}
    headers = {name: value for name, value in request.headers.items() if name in kept}
    try:
        async with httpx.AsyncClient(timeout=store.timeout + 5) as client:
            answer = await client.request(
                request.method,
                leader + request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                content=await request.body(),
                headers={**headers, FORWARDED: store.election.url},
            )
    except httpx.HTTPError as error:
        raise RegistryError(
            500, 50003, f"Error while forwarding the request to the leader {leader}: {error!r}"
        ) from None
    if answer.status_code < 300:
        await store.sync()  # so that whoever wrote through this registry reads it here too
    return Response(
        answer.content, answer.status_code, media_type=answer.headers.get("content-type")
    )
