"""Co-streaming: the streamer invites a guest; the guest accepts, joins and leaves the stage;
the streamer can mute or unmute a guest and remove a guest from the stage. The guest actions
are the caller's own.

The invitations are folded by the stream fold (livefold/guests.py), one state record each. There
is no list of one user's invitations across streams: co-stream events are partitioned by stream,
so it would take every gateway keeping an index of everyone's invitations. An invited user sees
theirs in `GET /streams/{id}/guests` (filtered to them), and live on the stream's `stream`
channel, where each invitation's record goes only to its guest's sockets.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth.backend import Caller
from gateway.errors import not_found
from gateway.reads import Read, ready_gateway, stream_view
from gateway.writes import Context, Who, Write
from livefold import guests
from livefold.access.tokens import Principal

GUESTS = "/streams/{stream_id}/guests"


async def as_guest(context: Context) -> None:
    context.payload["guest_id"] = context.principal.user_id


async def invited_guest(context: Context) -> None:
    """The guest of the invitation the streamer names, unless the body names them."""
    if context.payload.get("guest_id"):
        return
    stream_id, invite_id = context.stream_id, context.payload["invite_id"]
    keyed = f"{guests.prefix(stream_id)}{invite_id}/u/"
    found = context.gateway.store.views("stream", stream_id, prefix=keyed)
    if not found:
        raise not_found(f"invitation {invite_id!r} of stream {stream_id!r}")
    context.payload["guest_id"] = found[0]["guest_id"]


def guest_action(action: str, event: str, summary: str, **fixed: str) -> Write:
    return Write(
        "POST",
        GUESTS + "/{invite_id}/" + action,
        f"livefold.costream.{event}",
        summary,
        Who.ANYONE,
        path_fields=("invite_id",),
        fixed={"guest_id": "", **fixed},
        prepare=as_guest,
    )


WRITES = [
    Write(
        "POST",
        GUESTS,
        "livefold.costream.GuestInvited",
        "Invite a guest to co-stream (the streamer)",
        Who.OWNER,
        generated=("invite_id",),
    ),
    guest_action("accept", "GuestAccepted", "Accept an invitation (the guest)"),
    guest_action("join", "GuestJoinedStage", "Join the stage (the guest)"),
    guest_action("leave", "GuestLeftStage", "Leave the stage (the guest)", reason="left"),
    Write(
        "POST",
        GUESTS + "/{invite_id}/remove",
        "livefold.costream.GuestLeftStage",
        "Remove a guest from the stage (the streamer; guest_id may be left out)",
        Who.OWNER,
        path_fields=("invite_id",),
        fixed={"reason": "kicked"},
        prepare=invited_guest,
    ),
    Write(
        "POST",
        GUESTS + "/{invite_id}/mute",
        "livefold.costream.GuestMuted",
        "Mute or unmute a guest's audio on stage (the streamer; body {muted})",
        Who.OWNER,
        path_fields=("invite_id",),
        prepare=invited_guest,
    ),
]


def caller_of(request: Request) -> Principal | None:
    user = request.scope.get("user")
    return user.principal if isinstance(user, Caller) else None


async def list_guests(request: Request) -> Response:
    """Who is live on stage, and `invites` (status invited, accepted, live, left or removed): all
    of them for the streamer and moderators, an invited user's own for them, none for others."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    view = stream_view(gateway, stream_id)
    caller = caller_of(request)
    invites: list[dict[str, Any]] = []
    if caller is not None:
        invites = gateway.store.views("stream", stream_id, prefix=guests.prefix(stream_id))
        if not gateway.rights.can_moderate(caller, stream_id):
            invites = [invite for invite in invites if invite["guest_id"] == caller.user_id]
        invites.sort(key=lambda invite: (invite["invited_at"], invite["invite_id"]))
    body = {"stream_id": stream_id, "on_stage": view.get("on_stage", []), "invites": invites}
    return JSONResponse(body)


READS = [Read(GUESTS, list_guests, "Who is on stage; invitations for those who may see them")]
