"""Chat scroll-back: the whole chat of a stream as the live chat shows it, a page at a time back
from the newest, read from the log's copy in ClickHouse (gateway/event_store.py). The chat fold
keeps only its newest `RECENT_LIMIT` messages (`GET .../chat`, gateway/chat.py); this reaches
the stream's first message.

Messages are in the chat fold's order, `(at, message_id)`, and a cursor is a position in it,
`<at>:<message_id>`: the oldest message the previous page looked at (shown or not), so the next
page starts right below it. `GET .../chat`'s cursors and the position of any message the live
chat shows are cursors here too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.event_store import any_stored, parse_position, read_events, visible_messages
from gateway.reads import Param, Read, query_int, query_text, ready_gateway, stream_view
from gateway.runtime import Gateway
from livefold import chat
from streams.events import Event

NEWEST = (2**62, "")  # a position after every message
ROUNDS = 10  # pages of messages looked at per answer, however many of them are hidden


def older_sent(
    gateway: Gateway, stream_id: str, before: tuple[int, str], limit: int
) -> list[Event]:
    """Up to `limit` messages sent before position `before`, newest first."""
    return read_events(
        gateway,
        "event_type = {sent:String}"
        " AND (toUnixTimestamp64Milli(occurred_at), message_id) < ({at:Int64}, {id:String})",
        {"sent": chat.MESSAGE_SENT, "at": before[0], "id": before[1]},
        stream_id,
        limit,
        order="occurred_at DESC, message_id DESC",
    )


def history_page(
    gateway: Gateway, stream_id: str, before: tuple[int, str], limit: int
) -> dict[str, Any]:
    """Up to `limit` shown messages before `before`, oldest first, and the cursor of the rest."""
    shown: list[dict[str, Any]] = []  # newest first
    position: tuple[int, str] | None = before if any_stored(gateway) else None
    for _ in range(ROUNDS):
        wanted = limit - len(shown)
        if position is None or wanted == 0:
            break
        sent = older_sent(gateway, stream_id, position, wanted)
        visible = visible_messages(gateway, sent)
        shown += [visible[m] for m in (str(e.body["message_id"]) for e in sent) if m in visible]
        last = sent[-1] if len(sent) == wanted else None  # fewer: the stream's first was among them
        position = None if last is None else (last.occurred_at_ms, str(last.body["message_id"]))
    next_cursor = None if position is None else f"{position[0]}:{position[1]}"
    return {"messages": shown[::-1], "next_cursor": next_cursor}


async def chat_history(request: Request) -> Response:
    """The chat as the live chat shows it, one page older than `before` (the newest without)"""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    limit = query_int(request, "limit", 50, 1, chat.RECENT_LIMIT)
    cursor = query_text(request, "before", 400)
    before = NEWEST if cursor is None else parse_position(cursor, "before")
    answer = await asyncio.to_thread(history_page, gateway, stream_id, before, limit)
    return JSONResponse(answer)


READS = [
    Read(
        "/streams/{stream_id}/chat/history",
        chat_history,
        "The whole chat, newest page first, each page oldest first; page back with next_cursor",
        query=(
            Param("before", {"type": "string", "maxLength": 400}, "next_cursor of a page"),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "messages (50)"),
        ),
    )
]
