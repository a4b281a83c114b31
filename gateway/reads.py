"""Reads: answers from this process's copy of the state topics (gateway/state.py), so any
gateway answers alike. Declared as `Read`s so gateway/openapi.py documents them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import forbidden, invalid, not_found
from gateway.runtime import Gateway, gateway_of
from gateway.writes import API, principal_of
from streams.validation import FieldError

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Read:
    path: str  # under /api/v1
    handler: Handler
    summary: str
    query: tuple[Param, ...] = ()
    moderators_only: bool = False

    @property
    def route(self) -> str:
        return API + self.path


LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size (20)")
CURSOR = Param("cursor", {"type": "string", "maxLength": 200}, "next_cursor of the last page")


def ready_gateway(request: Request) -> Gateway:
    gateway = gateway_of(request)
    gateway.require_ready()
    return gateway


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise invalid([FieldError(name, f"must be an integer between {low} and {high}")])
    return int(text)


def query_text(request: Request, name: str, longest: int = 200) -> str | None:
    text = request.query_params.get(name)
    if text is not None and len(text) > longest:
        raise invalid([FieldError(name, f"must be at most {longest} characters")])
    return text


def stream_view(gateway: Gateway, stream_id: str) -> dict[str, Any]:
    view = gateway.store.view("stream", stream_id)
    if view is None:
        raise not_found(f"stream {stream_id!r}")
    return view


def moderator_of(request: Request, gateway: Gateway, stream_id: str) -> None:
    stream_view(gateway, stream_id)
    if not gateway.rights.can_moderate(principal_of(request), stream_id):
        raise forbidden(f"only moderators of {stream_id} may see this")


def page(items: list[Any], request: Request) -> dict[str, Any]:
    """`items` paged by offset: `{"items": [...], "next_cursor": str | None}`."""
    limit = query_int(request, "limit", 20, 1, 100)
    cursor = request.query_params.get("cursor") or "0"
    if not cursor.isdigit() or len(cursor) > 9:
        raise invalid([FieldError("cursor", "is not a cursor this API gave out")])
    start = int(cursor)
    end = start + limit
    return {"items": items[start:end], "next_cursor": str(end) if end < len(items) else None}
