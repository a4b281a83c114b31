"""How moderator actions on users (time-outs, bans, blocks, appointing moderators) and the
facts moderation depends on (stream owner, followers, chat modes set with the stream's settings)
change a stream's moderation state (`livefold.moderation.handlers` says who may act)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livefold.folding import Output, Refused
from livefold.moderation.handlers import Handler, handles, not_moderator, not_owner, protected
from livefold.moderation.state import PLATFORM, ModerationState
from livefold.moderation.stream_rules import set_modes
from livefold.moderation.views import log, modlog_update, restrictions_update, staff_update
from streams.events import Event


def _user_action(handler: Callable[[ModerationState, Event, str], list[Output]]) -> Handler:
    """A moderator acting on a user: permission and protection checks come first."""

    def checked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
        if not_moderator(state, platform, event):
            raise Refused(f"{event.actor_id} may not moderate this stream")
        user = str(event.body.get("user_id") or "")
        if not user:
            raise Refused("user_id is missing")
        why = protected(state, platform, event, user)
        if why:
            raise Refused(why)
        return handler(state, event, user)

    return checked


def time_out(state: ModerationState, event: Event, user: str, until: int, reason: Any) -> None:
    if user not in state["banned"]:
        state["timeouts"][user] = until
    log(state, event, "timeout", user, reason, f"until {until}")


def ban(state: ModerationState, event: Event, user: str, reason: Any) -> None:
    state["banned"][user] = {"at": event.occurred_at_ms, "by": event.actor_id, "reason": reason}
    state["timeouts"].pop(user, None)
    log(state, event, "ban", user, reason)


@handles("livefold.moderation.UserTimedOut")
@_user_action
def _timed_out(state: ModerationState, event: Event, user: str) -> list[Output]:
    time_out(state, event, user, int(event.body["until"]), event.body.get("reason"))
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.UserBanned")
@_user_action
def _banned(state: ModerationState, event: Event, user: str) -> list[Output]:
    ban(state, event, user, event.body.get("reason"))
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.UserUnbanned")
@_user_action
def _unbanned(state: ModerationState, event: Event, user: str) -> list[Output]:
    was_banned = user in state["banned"]
    if not was_banned and user not in state["timeouts"]:
        raise Refused(f"{user} is neither banned nor timed out")
    state["banned"].pop(user, None)
    state["timeouts"].pop(user, None)
    log(state, event, "unban" if was_banned else "untimeout", user, event.body.get("reason"))
    return [modlog_update(state), restrictions_update(state)]


def _owner_only(state: ModerationState, platform: ModerationState, event: Event) -> str:
    """The user the streamer's action is about; only the streamer or an admin may act."""
    if not_owner(state, platform, event):
        raise Refused(f"only the streamer or an admin may do that, not {event.actor_id}")
    return str(event.body["user_id"])


@handles("livefold.moderation.UserBlocked")
def _user_blocked(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    user = _owner_only(state, platform, event)
    if user == state["owner"]:
        raise Refused("the streamer cannot block themselves")
    state["blocked_users"][user] = event.occurred_at_ms
    log(state, event, "block_user", user)
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.UserUnblocked")
def _user_unblocked(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    user = _owner_only(state, platform, event)
    if state["blocked_users"].pop(user, None) is None:  # nothing changed if it raises
        raise Refused(f"{user} is not blocked")
    log(state, event, "unblock_user", user)
    return [modlog_update(state), restrictions_update(state)]


@handles("livefold.moderation.ModeratorAppointed")
def _appointed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    user = _owner_only(state, platform, event)
    state["moderators"][user] = event.occurred_at_ms
    log(state, event, "appoint_moderator", user)
    return [modlog_update(state), staff_update(state)]


@handles("livefold.moderation.ModeratorRemoved")
def _removed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    user = _owner_only(state, platform, event)
    if state["moderators"].pop(user, None) is None:
        raise Refused(f"{user} is not a moderator")
    log(state, event, "remove_moderator", user)
    return [modlog_update(state), staff_update(state)]


@handles("livefold.stream.Created")
def _stream_created(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    if state["owner"] is None and state["stream_id"] != PLATFORM:
        state["owner"] = event.actor_id
        return [staff_update(state)]
    return []


@handles("livefold.stream.SettingsChanged")
def _stream_settings(
    state: ModerationState, platform: ModerationState, event: Event
) -> list[Output]:
    modes = event.body.get("chat_modes")
    if modes is None:
        return []
    if not_moderator(state, platform, event):
        raise Refused(f"{event.actor_id} may not change chat modes")
    return set_modes(state, event, modes)


@handles("livefold.audience.Followed")
def _followed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    state["followers"].setdefault(event.actor_id, event.occurred_at_ms)
    return []


@handles("livefold.audience.Unfollowed")
def _unfollowed(state: ModerationState, platform: ModerationState, event: Event) -> list[Output]:
    state["followers"].pop(event.actor_id, None)
    return []
