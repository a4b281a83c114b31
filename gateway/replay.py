"""Chat replay: a recording's chat, reactions and polls, each at its offset in ms from the
recording's start (when its ingest started), read from the log's copy in ClickHouse
(gateway/event_store.py) and paged by position.

What the live chat hides stays hidden: messages are shown as the live chat shows them
(`event_store.visible_messages`). A poll is shown as the polls fold saw it after
each of its events (`livefold.polls`), so refused votes change nothing here either.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import ApiError, invalid, not_found
from gateway.event_store import parse_position, read_events, visible_messages
from gateway.media import ingest_of, vods_of
from gateway.reads import Param, Read, query_int, ready_gateway, stream_view
from gateway.runtime import Gateway
from livefold import chat, polls
from livefold.folding import Update
from livefold.reactions import REACTION_SENT
from streams.events import Event
from streams.validation import FieldError

SHOWN = (chat.MESSAGE_SENT, REACTION_SENT, *sorted(polls.HANDLES))
MAX_SPAN_MS = 24 * 3600 * 1000


def window(
    gateway: Gateway, stream_id: str, start: int, end: int, after: tuple[int, str], limit: int
) -> list[Event]:
    """Up to `limit` shown events in [start, end) ms since the epoch, after position `after`."""
    return read_events(
        gateway,
        "has({types:Array(String)}, event_type)"
        " AND occurred_at >= fromUnixTimestamp64Milli({start:Int64})"
        " AND occurred_at < fromUnixTimestamp64Milli({end:Int64})"
        " AND (toUnixTimestamp64Milli(occurred_at), event_id) > ({at:Int64}, {id:String})",
        {"types": list(SHOWN), "start": start, "end": end, "at": after[0], "id": after[1]},
        stream_id,
        limit,
    )


def poll_views(gateway: Gateway, page: list[Event]) -> dict[str, dict[str, Any]]:
    """Each poll event of the page -> the poll's view once the polls fold had folded it."""
    ids = sorted({str(event.body["poll_id"]) for event in page if event.type in polls.HANDLES})
    if not ids:
        return {}
    last = max(event.occurred_at_ms for event in page)
    history = read_events(
        gateway,
        "has({types:Array(String)}, event_type) AND has({ids:Array(String)}, poll_id)"
        " AND occurred_at <= fromUnixTimestamp64Milli({last:Int64})",
        {"types": sorted(polls.HANDLES), "ids": ids, "last": last},
        page[0].stream_id,
    )
    wanted = {event.event_id for event in page}
    states: dict[str, Any] = {}
    views = {}
    for event in history:
        key = polls.key_of(event)
        states[key], outputs = polls.fold(states.get(key), event)
        if event.event_id in wanted and any(isinstance(o, Update) for o in outputs):
            views[event.event_id] = polls.view(states[key])
    return views


def replay_page(
    gateway: Gateway,
    stream_id: str,
    origin: int,
    span: tuple[int, int],
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    after = parse_position(cursor) if cursor else (0, "")
    page = window(gateway, stream_id, origin + span[0], origin + span[1], after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    messages = visible_messages(gateway, [e for e in page if e.type == chat.MESSAGE_SENT])
    views = poll_views(gateway, page)
    items = []
    for event in page:
        at = event.occurred_at_ms
        item: dict[str, Any] = {"offset_ms": at - origin, "at": at}
        if event.type == chat.MESSAGE_SENT:
            message = messages.get(str(event.body["message_id"]))
            if message is None:
                continue
            item.update(type="message", message=message)
        elif event.type == REACTION_SENT:
            body = event.body
            item.update(type="reaction", kind=body["kind"], count=int(body.get("count") or 1))
        elif event.event_id in views:
            item.update(type="poll", poll=views[event.event_id])
        else:
            continue
        items.append(item)
    last = page[-1] if page else None
    next_cursor = f"{last.occurred_at_ms}:{last.event_id}" if more and last else None
    return {"origin": origin, "items": items, "next_cursor": next_cursor}


def recording_span(
    gateway: Gateway, stream: dict[str, Any], request: Request
) -> tuple[int, int | None]:
    """When the asked recording (the live one, else the newest) started, epoch ms, and its
    length in ms once it is finished."""
    stream_id = str(stream["stream_id"])
    vods = vods_of(gateway, stream_id)
    starts = {str(vod["recording_id"]): vod.get("started_at") for vod in vods}
    lengths = {str(vod["recording_id"]): int(vod["duration_ms"]) for vod in vods}
    ingest = ingest_of(gateway, stream_id)
    if ingest:
        starts.setdefault(str(ingest["ingest_id"]), ingest["started_at"])
    asked = request.query_params.get("recording_id")
    if asked is not None and asked not in starts:
        raise not_found(f"recording {asked!r} of stream {stream_id!r}")
    recording_id = asked or (ingest["ingest_id"] if ingest else next(iter(starts), None))
    if recording_id is None:
        reason = f"stream {stream_id} has no recording: no video reached it"
        raise ApiError(409, "no_media", reason)
    # A recording whose ingest is not in the log counts from the stream's going live.
    return int(starts[recording_id] or stream["live_at"] or 0), lengths.get(recording_id)


async def replay(request: Request) -> Response:
    """A recording's chat, reactions and polls at their offsets (ms from its start), paged"""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream = stream_view(gateway, stream_id)
    origin, length = recording_span(gateway, stream, request)
    start = query_int(request, "from_ms", 0, 0, MAX_SPAN_MS)
    end = query_int(request, "to_ms", MAX_SPAN_MS, 1, MAX_SPAN_MS)
    if end <= start:
        raise invalid([FieldError("to_ms", "must be after from_ms")])
    end = end if length is None else min(end, length)  # what was said after it, is not in it
    limit = query_int(request, "limit", 100, 1, chat.RECENT_LIMIT)
    cursor = request.query_params.get("cursor")
    answer = await asyncio.to_thread(
        replay_page, gateway, stream_id, int(origin), (start, end), cursor, limit
    )
    return JSONResponse(answer)


OFFSET = {"type": "integer", "minimum": 0, "maximum": MAX_SPAN_MS}
READS = [
    Read(
        "/streams/{stream_id}/replay",
        replay,
        "Chat replay: messages, reactions and polls with offset_ms from the recording's start",
        query=(
            Param("recording_id", {"type": "string", "maxLength": 200}, "the recording (newest)"),
            Param("from_ms", OFFSET, "offset to start at (0)"),
            Param("to_ms", OFFSET, "offset to end before (the end)"),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "events (100)"),
            Param("cursor", {"type": "string", "maxLength": 100}, "next_cursor of a page"),
        ),
    )
]
