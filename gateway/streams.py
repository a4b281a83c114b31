"""Streams: create (or schedule, with `scheduled_start`), go live, end, change settings; browse
live and upcoming streams with search by title, category and tag, or one streamer's streams of
every status in one list; details."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import invalid
from gateway.reads import CURSOR, LIMIT, Param, Read, page, query_text, ready_gateway, stream_view
from gateway.writes import Who, Write
from streams.validation import FieldError

STATUSES = ("live", "scheduled", "ended")

WRITES = [
    Write(
        "POST",
        "/streams",
        "livefold.stream.Created",
        "Create a stream; with scheduled_start (epoch ms) it is scheduled for later",
        Who.STREAMER,
        new_stream=True,
    ),
    Write(
        "POST",
        "/streams/{stream_id}/live",
        "livefold.stream.WentLive",
        "Go live",
        Who.OWNER,
    ),
    Write(
        "POST",
        "/streams/{stream_id}/end",
        "livefold.stream.Ended",
        "End the stream",
        Who.OWNER,
        defaults={"reason": "streamer_ended"},
    ),
    Write(
        "PATCH",
        "/streams/{stream_id}",
        "livefold.stream.SettingsChanged",
        "Change title, category, tags, language, chat modes or reactions (omitted: unchanged)",
        Who.OWNER,
    ),
]


def matches(view: dict[str, Any], words: str | None, category: str | None, tag: str | None) -> bool:
    if category is not None and (view.get("category") or "").lower() != category.lower():
        return False
    if tag is not None and tag.lower() not in {t.lower() for t in view.get("tags") or ()}:
        return False
    if words:
        haystack = " ".join([view.get("title") or "", *(view.get("tags") or ())]).lower()
        return all(word in haystack for word in words.lower().split())
    return True


def order(status: str) -> Any:
    if status == "live":
        return lambda view: (-(view.get("viewers") or 0), view["stream_id"])
    if status == "scheduled":
        return lambda view: (view.get("scheduled_start") or 0, view["stream_id"])
    return lambda view: (-(view.get("ended_at") or 0), view["stream_id"])


async def list_streams(request: Request) -> Response:
    """Browse streams by status (live by viewers, scheduled by start time, ended newest first);
    a streamer's without a status: live, then scheduled, then ended ones, in one list."""
    gateway = ready_gateway(request)
    streamer = query_text(request, "streamer")
    status = request.query_params.get("status", "live" if streamer is None else None)
    if status is not None and status not in STATUSES:
        raise invalid([FieldError("status", f"must be one of {', '.join(STATUSES)}")])
    statuses = STATUSES if status is None else (status,)
    words, category, tag = (query_text(request, name) for name in ("q", "category", "tag"))
    found = [
        view
        for view in gateway.store.all_views("stream")
        if view.get("status") in statuses
        and (streamer is None or view.get("streamer") == streamer)
        and matches(view, words, category, tag)
    ]
    found.sort(key=lambda view: (statuses.index(view["status"]), order(view["status"])(view)))
    return JSONResponse(page(found, request))


async def stream_details(request: Request) -> Response:
    """A stream's details: lifecycle, settings, viewers, chat rate, reactions and tips totals."""
    gateway = ready_gateway(request)
    return JSONResponse(stream_view(gateway, request.path_params["stream_id"]))


READS = [
    Read(
        "/streams",
        list_streams,
        "Browse live, scheduled or ended streams; search by title words, category, tag",
        query=(
            Param(
                "status",
                {"type": "string", "enum": list(STATUSES)},
                "live (default; with streamer: every status)",
            ),
            Param("streamer", {"type": "string", "maxLength": 200}, "one streamer's (user id)"),
            Param("q", {"type": "string", "maxLength": 200}, "words in the title or tags"),
            Param("category", {"type": "string", "maxLength": 200}, "exact category"),
            Param("tag", {"type": "string", "maxLength": 200}, "one tag"),
            LIMIT,
            CURSOR,
        ),
    ),
    Read("/streams/{stream_id}", stream_details, "A stream's details"),
]
