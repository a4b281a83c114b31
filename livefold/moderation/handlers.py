"""The moderation fold's handlers by event type (`handles`), and the checks a handler makes
before it acts: only the streamer, appointed moderators, platform admins and the system may act,
and nobody acts on the streamer. A refused action changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from livefold.folding import Output, Refused
from livefold.moderation.state import ModerationState, can_moderate
from streams.events import SYSTEM_ACTOR, Event

Handler = Callable[[ModerationState, ModerationState, Event], list[Output]]
HANDLERS: dict[str, Handler] = {}


def handles(event_type: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[event_type] = handler
        return handler

    return register


def not_moderator(state: ModerationState, platform: ModerationState, event: Event) -> bool:
    actor = event.actor_id
    return actor != SYSTEM_ACTOR and not can_moderate(state, actor, platform=platform)


def not_owner(state: ModerationState, platform: ModerationState, event: Event) -> bool:
    actor = event.actor_id
    return actor not in (SYSTEM_ACTOR, state["owner"]) and actor not in platform["admins"]


def protected(state: ModerationState, platform: ModerationState, event: Event, user: str) -> str:
    """Why the actor may not act on this user ("" if they may): nobody acts on the streamer,
    and only the streamer or an admin acts on a moderator."""
    if user == state["owner"]:
        return f"{user} is the streamer of {state['stream_id']}"
    if user in state["moderators"] and not_owner(state, platform, event):
        return f"{user} is a moderator; only the streamer or an admin may act on them"
    return ""


def moderator_only(handler: Handler) -> Handler:
    def checked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
        if not_moderator(state, platform, event):
            raise Refused(f"{event.actor_id} may not moderate this stream")
        return handler(state, platform, event)

    return checked
