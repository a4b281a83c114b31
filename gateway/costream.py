"""Co-streaming: the streamer invites a guest; the guest accepts, joins and leaves the stage;
the streamer can remove a guest from the stage. The guest actions are the caller's own."""

from __future__ import annotations

from gateway.writes import Context, Who, Write

GUESTS = "/streams/{stream_id}/guests"


async def as_guest(context: Context) -> None:
    context.payload["guest_id"] = context.principal.user_id


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
        "Remove a guest from the stage (the streamer)",
        Who.OWNER,
        path_fields=("invite_id",),
        fixed={"reason": "kicked"},
    ),
]
