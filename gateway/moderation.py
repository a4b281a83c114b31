"""Moderation: viewers flag messages; moderators review the queue (approve/reject), time out,
ban and unban users, keep blocked and allowed terms, set chat modes and filters, and read the
mod log; the streamer appoints moderators and blocks users. Every action lands in the mod log
(livefold/moderation)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import forbidden, not_found
from gateway.reads import Read, moderator_of, ready_gateway, stream_view
from gateway.rights import STAFF
from gateway.writes import Context, Prepare, Who, Write

MOD = "/streams/{stream_id}/moderation"


async def reporter(context: Context) -> None:
    context.payload["reporter"] = context.principal.user_id


def check_target(context: Context, user: object) -> None:
    """What the moderation fold would refuse about acting on `user` (livefold.moderation
    .handlers.protected), answered now rather than with a 202 for an event that changes
    nothing: nobody acts on the streamer; only the streamer or an admin on a moderator."""
    rights, stream_id = context.gateway.rights, context.stream_id
    if not isinstance(user, str):
        return
    if user == rights.owners.get(stream_id):
        raise forbidden(f"{user} is the streamer of {stream_id}")
    if user in rights.moderators.get(stream_id, ()) and not rights.owns(
        context.principal, stream_id
    ):
        raise forbidden(f"{user} is a moderator; only the streamer or an admin may act on them")


async def on_user(context: Context) -> None:
    check_target(context, context.payload.get("user_id"))


async def on_author(context: Context) -> None:
    """A review that times out or bans the author of the message it decides."""
    payload = context.payload
    if payload.get("timeout_until") is None and not payload.get("ban_author"):
        return
    queue = context.gateway.store.view("moderation", context.stream_id) or {}
    items = queue.get("items") or ()
    item = next((i for i in items if i.get("message_id") == payload["message_id"]), None)
    check_target(context, None if item is None else item.get("user_id"))


async def on_moderator(context: Context) -> None:
    user = context.payload.get("user_id")
    if user not in context.gateway.rights.moderators.get(context.stream_id, ()):
        raise not_found(f"moderator {user!r} of {context.stream_id}")


def review(decision: str) -> Write:
    return Write(
        "POST",
        MOD + "/queue/{message_id}/" + decision,
        "livefold.moderation.MessageReviewed",
        f"{decision.capitalize()} a held or flagged message; optionally time out or ban its author",
        Who.MODERATOR,
        path_fields=("message_id",),
        fixed={"decision": decision},
        prepare=on_author,
    )


def by_user(
    method: str, path: str, event: str, summary: str, who: Who, prepare: Prepare = on_user
) -> Write:
    return Write(
        method, path, f"livefold.moderation.{event}", summary, who, ("user_id",), prepare=prepare
    )


def by_term(path: str, event: str, summary: str) -> Write:
    return Write("DELETE", path, f"livefold.moderation.{event}", summary, Who.MODERATOR, ("term",))


WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/chat/{message_id}/flags",
        "livefold.moderation.MessageFlagged",
        "Flag a message for the moderators' review",
        Who.ANYONE,
        path_fields=("message_id",),
        fixed={"reporter": ""},
        prepare=reporter,
    ),
    review("approve"),
    review("reject"),
    Write(
        "POST",
        MOD + "/timeouts",
        "livefold.moderation.UserTimedOut",
        "Time a user out until a time (epoch ms)",
        Who.MODERATOR,
        prepare=on_user,
    ),
    Write(
        "POST",
        MOD + "/bans",
        "livefold.moderation.UserBanned",
        "Ban a user",
        Who.MODERATOR,
        prepare=on_user,
    ),
    by_user(
        "DELETE", MOD + "/bans/{user_id}", "UserUnbanned", "Lift a ban or timeout", Who.MODERATOR
    ),
    Write(
        "POST",
        MOD + "/blocked-terms",
        "livefold.moderation.TermBlocked",
        "Block a term (word, substring or regex)",
        Who.MODERATOR,
    ),
    by_term(MOD + "/blocked-terms/{term}", "TermUnblocked", "Unblock a term"),
    Write(
        "POST",
        MOD + "/allowed-terms",
        "livefold.moderation.TermAllowed",
        "Allow a term the filters would otherwise catch",
        Who.MODERATOR,
    ),
    by_term(MOD + "/allowed-terms/{term}", "TermDisallowed", "Stop allowing a term"),
    Write(
        "PUT",
        MOD + "/chat-modes",
        "livefold.moderation.ChatModeChanged",
        "Set chat modes: slow mode, followers-only, emote-only, subscribers-only",
        Who.MODERATOR,
    ),
    Write(
        "PATCH",
        MOD + "/filters",
        "livefold.moderation.FilterSettingsChanged",
        "Change automatic filter settings (omitted: unchanged)",
        Who.MODERATOR,
    ),
    Write(
        "POST",
        "/streams/{stream_id}/moderators",
        "livefold.moderation.ModeratorAppointed",
        "Appoint a moderator (the streamer)",
        Who.OWNER,
    ),
    by_user(
        "DELETE",
        "/streams/{stream_id}/moderators/{user_id}",
        "ModeratorRemoved",
        "Remove a moderator (the streamer)",
        Who.OWNER,
        prepare=on_moderator,
    ),
    Write(
        "POST",
        "/streams/{stream_id}/blocked-users",
        "livefold.moderation.UserBlocked",
        "Block a user from the streamer's chat (the streamer)",
        Who.OWNER,
        prepare=on_user,
    ),
    by_user(
        "DELETE",
        "/streams/{stream_id}/blocked-users/{user_id}",
        "UserUnblocked",
        "Unblock a user (the streamer)",
        Who.OWNER,
    ),
]


async def review_queue(request: Request) -> Response:
    """Held and flagged messages awaiting a moderator, oldest first."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    moderator_of(request, gateway, stream_id)
    queue = gateway.store.view("moderation", stream_id)
    return JSONResponse(queue or {"stream_id": stream_id, "size": 0, "items": []})


async def mod_log(request: Request) -> Response:
    """The latest moderation actions: who did what to whom, when and why."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    moderator_of(request, gateway, stream_id)
    return JSONResponse(
        gateway.store.view("modlog", stream_id) or {"stream_id": stream_id, "entries": []}
    )


async def staff(request: Request) -> Response:
    """The streamer and the moderators of a stream."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    view = gateway.store.view("moderation", f"{stream_id}/{STAFF}") or {}
    return JSONResponse(
        {
            "stream_id": stream_id,
            "owner": gateway.rights.owners.get(stream_id),
            "moderators": view.get("moderators") or [],
        }
    )


READS = [
    Read(MOD + "/queue", review_queue, "The review queue", moderators_only=True),
    Read(MOD + "/log", mod_log, "The mod log", moderators_only=True),
    # Public, as chat shows moderators with a badge.
    Read("/streams/{stream_id}/moderators", staff, "The stream's moderators"),
]
