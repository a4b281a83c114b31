"""Co-streaming invitations of one stream, folded by `stream` (they are part of the stream's
state): invited -> accepted -> live -> left, or removed by the streamer until the guest left;
the streamer may mute an open invitation's guest (their audio on stage) and unmute them.

Each invitation is published as its own record, keyed `<stream>/guests/<invite_id>/u/<guest>`:
over a socket only the guest receives it, and the gateway lists them all to the stream's
streamer and moderators (`GET /streams/{id}/guests`). The stream's own view says who is live on
stage (`on_stage`), for everyone.

Only the costream topic drives this state, so any interleaving with the stream's other topics
folds to the same invitations; who may invite or remove is checked by the gateway.
"""

from __future__ import annotations

from typing import Any, TypedDict

from livefold.folding import Refused
from streams.events import Event

INVITED = "livefold.costream.GuestInvited"
ACCEPTED = "livefold.costream.GuestAccepted"
JOINED = "livefold.costream.GuestJoinedStage"
LEFT = "livefold.costream.GuestLeftStage"
MUTED = "livefold.costream.GuestMuted"
HANDLES = frozenset({INVITED, ACCEPTED, JOINED, LEFT, MUTED})

OPEN = frozenset({"invited", "accepted", "live"})
MAX_OPEN = 20  # open invitations per stream
KEPT = 200  # invitations a stream's state keeps; the oldest finished ones go first


class Guest(TypedDict):
    invite_id: str
    guest_id: str
    invited_by: str
    status: str  # invited | accepted | live | left | removed
    invited_at: int
    expires_at: int | None
    changed_at: int  # when the status last changed (on stage since, when live)
    muted: bool  # the streamer muted the guest's audio (absent in states stored before mute)


def key(stream_id: str, invitation: Guest) -> str:
    return f"{prefix(stream_id)}{invitation['invite_id']}/u/{invitation['guest_id']}"


def prefix(stream_id: str) -> str:
    """What every invitation record of the stream is keyed under."""
    return f"{stream_id}/guests/"


def on_stage(invitations: dict[str, Guest]) -> list[dict[str, Any]]:
    """Who is live on stage with the streamer, first to join first."""
    live = [guest for guest in invitations.values() if guest["status"] == "live"]
    live.sort(key=lambda guest: (guest["changed_at"], guest["guest_id"]))
    return [
        {
            "guest_id": guest["guest_id"],
            "invite_id": guest["invite_id"],
            "since": guest["changed_at"],
            "muted": guest.get("muted", False),
        }
        for guest in live
    ]


def record(stream_id: str, invitation: Guest) -> dict[str, Any]:
    return {"stream_id": stream_id, "muted": False, **invitation}


def fold_guest(invitations: dict[str, Guest], event: Event) -> Guest:
    """Apply one costream event (or raise Refused, changing nothing); the invitation it moved."""
    if event.type == INVITED:
        return _invite(invitations, event)
    invitation = _named(invitations, event)
    if event.type == MUTED:
        if invitation["status"] not in OPEN:
            raise Refused(f"invitation {invitation['invite_id']} is over ({invitation['status']})")
        invitation["muted"] = bool(event.body["muted"])
        return invitation
    invitation["status"] = _next_status(invitation, event)
    invitation["changed_at"] = event.occurred_at_ms
    return invitation


def _invite(invitations: dict[str, Guest], event: Event) -> Guest:
    body = event.body
    invite_id: str = body["invite_id"]
    guest_id: str = body["guest_id"]
    expires_at: int | None = body.get("expires_at")
    if invite_id in invitations:
        raise Refused(f"invitation {invite_id} was already made")
    if not guest_id or guest_id == event.actor_id:
        raise Refused("invite a guest other than yourself")
    open_ones = [guest for guest in invitations.values() if guest["status"] in OPEN]
    already = next((guest for guest in open_ones if guest["guest_id"] == guest_id), None)
    if already is not None:
        raise Refused(f"{guest_id} already has an open invitation ({already['invite_id']})")
    if len(open_ones) >= MAX_OPEN:
        raise Refused(f"a stream has at most {MAX_OPEN} open invitations")
    if expires_at is not None and expires_at <= event.occurred_at_ms:
        raise Refused("expires_at must be after the invitation is made")
    invitation = Guest(
        invite_id=invite_id,
        guest_id=guest_id,
        invited_by=event.actor_id,
        status="invited",
        invited_at=event.occurred_at_ms,
        expires_at=expires_at,
        changed_at=event.occurred_at_ms,
        muted=False,
    )
    invitations[invite_id] = invitation
    _forget_oldest_finished(invitations)
    return invitation


def _named(invitations: dict[str, Guest], event: Event) -> Guest:
    invite_id: str = event.body["invite_id"]
    invitation = invitations.get(invite_id)
    if invitation is None:
        raise Refused(f"invitation {invite_id} does not exist")
    guest_id: str = event.body["guest_id"]
    if invitation["guest_id"] != guest_id:
        raise Refused(f"invitation {invite_id} is for {invitation['guest_id']}, not {guest_id}")
    return invitation


def _next_status(invitation: Guest, event: Event) -> str:
    status = invitation["status"]
    if event.type == LEFT:
        if status not in OPEN:
            raise Refused(f"invitation {invitation['invite_id']} is over ({status})")
        return "removed" if event.body.get("reason") == "kicked" else "left"
    needed, then = ("invited", "accepted") if event.type == ACCEPTED else ("accepted", "live")
    if status != needed:
        raise Refused(f"invitation {invitation['invite_id']} is {status}, not {needed}")
    expires_at = invitation["expires_at"]
    if event.type == ACCEPTED and expires_at is not None and event.occurred_at_ms > expires_at:
        raise Refused(f"invitation {invitation['invite_id']} expired before it was accepted")
    return then


def _forget_oldest_finished(invitations: dict[str, Guest]) -> None:
    excess = len(invitations) - KEPT
    if excess <= 0:
        return
    finished = [invite_id for invite_id, g in invitations.items() if g["status"] not in OPEN]
    for invite_id in finished[:excess]:
        del invitations[invite_id]
