"""Chat: send, delete (the author, or a moderator), pin and unpin; history with cursor paging.

A sent message is shown only once moderation allows it (livefold/chat.py), so history and the
chat channel carry allowed messages only; the 202 means "accepted into the log".
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import forbidden, not_found
from gateway.event_store import parse_position
from gateway.reads import LIMIT, Param, Read, query_int, ready_gateway, stream_view
from gateway.writes import Context, Who, Write


async def deleting(context: Context) -> None:
    """The author deletes their own message; anyone else must moderate the stream."""
    message_id = context.payload["message_id"]
    chat = context.gateway.store.view("chat", context.stream_id) or {}
    message = next(
        (m for m in chat.get("messages") or () if m.get("message_id") == message_id), None
    )
    if message is not None and message.get("author") == context.principal.user_id:
        context.payload["reason"] = "author"
    elif context.gateway.rights.can_moderate(context.principal, context.stream_id):
        context.payload["reason"] = "moderator"
    elif message is None:
        raise not_found(f"message {message_id!r} in the recent chat")
    else:
        raise forbidden("only the author or a moderator may delete a message")


WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/chat",
        "livefold.chat.MessageSent",
        "Send a chat message (shown once moderation allows it)",
        Who.ANYONE,
        generated=("message_id",),
        socket_name="chat.send",
    ),
    Write(
        "DELETE",
        "/streams/{stream_id}/chat/{message_id}",
        "livefold.chat.MessageDeleted",
        "Delete a message (its author, or a moderator)",
        Who.ANYONE,
        path_fields=("message_id",),
        fixed={"reason": "author"},
        prepare=deleting,
    ),
    Write(
        "POST",
        "/streams/{stream_id}/chat/{message_id}/pin",
        "livefold.chat.MessagePinned",
        "Pin a message, optionally until a time (epoch ms)",
        Who.MODERATOR,
        path_fields=("message_id",),
        fixed={"pinned": True},
    ),
    Write(
        "DELETE",
        "/streams/{stream_id}/chat/{message_id}/pin",
        "livefold.chat.MessagePinned",
        "Unpin a message",
        Who.MODERATOR,
        path_fields=("message_id",),
        fixed={"pinned": False, "until": None},
    ),
]


def position(message: dict[str, Any]) -> str:
    return f"{message['at']}:{message['message_id']}"


async def recent_chat(request: Request) -> Response:
    """Recent chat, oldest first, one page before `cursor` (the newest page without one): the
    chat fold's newest `RECENT_LIMIT`; gateway/chat_history.py reaches further back."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    limit = query_int(request, "limit", 50, 1, 200)
    chat = gateway.store.view("chat", stream_id) or {}
    messages: list[dict[str, Any]] = list(chat.get("messages") or ())
    cursor = request.query_params.get("cursor")
    if cursor is not None:
        before = parse_position(cursor)
        messages = [m for m in messages if (m["at"], m["message_id"]) < before]
    shown = messages[-limit:]
    more = len(messages) > len(shown)
    return JSONResponse(
        {
            "items": shown,
            "pinned": chat.get("pinned"),
            "next_cursor": position(shown[0]) if more and shown else None,
            # without a next page: whether the first item is the stream's first message
            "from_first": bool(chat.get("from_first", True)),
        }
    )


READS = [
    Read(
        "/streams/{stream_id}/chat",
        recent_chat,
        "Chat history, oldest first; page back with next_cursor",
        query=(
            Param("cursor", {"type": "string", "maxLength": 400}, "next_cursor of a page"),
            Param("limit", LIMIT.schema | {"maximum": 200}, "page size (50)"),
        ),
    )
]
