"""Who may do what on a stream, as the state topics say: the streamer (the actor of the stream's
Created event, from the stream channel) and the moderators the streamer appointed (the
moderation channel's `<stream_id>/staff` view). These change while a token lives, so they are
never read from tokens; platform admins are (the `admin` role), or the platform staff view.

The folds check every action again when they apply it: this is the gateway's early answer,
so a refused request never reaches the log.
"""

from __future__ import annotations

from gateway.auth.tokens import Principal
from streams.state import StateMessage

STAFF = "staff"
PLATFORM = "platform"
MODERATOR_CHANNELS = frozenset({"moderation", "modlog"})  # subscribed to by moderators only


class Rights:
    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.moderators: dict[str, frozenset[str]] = {}
        self.admins: frozenset[str] = frozenset()

    def apply(self, message: StateMessage) -> bool:
        """Take in a state record; True if it may have taken rights away (open sockets are
        checked again: a removed moderator stops hearing the moderator channels)."""
        if message.kind != "update":
            return False
        if message.channel == "stream" and message.key == message.stream_id:
            streamer = message.value.get("streamer")
            if isinstance(streamer, str):
                self.owners[message.stream_id] = streamer
        elif message.channel == "moderation" and message.key == f"{message.stream_id}/{STAFF}":
            moderators = frozenset(str(user) for user in message.value.get("moderators") or ())
            if message.stream_id == PLATFORM:
                admins = frozenset(str(user) for user in message.value.get("admins") or ())
                lost, self.admins = self.admins - admins, admins
            else:
                lost = self.moderators.get(message.stream_id, frozenset()) - moderators
                self.moderators[message.stream_id] = moderators
            return bool(lost)
        return False

    def is_admin(self, principal: Principal) -> bool:
        return principal.is_admin or principal.user_id in self.admins

    def owns(self, principal: Principal, stream_id: str) -> bool:
        return self.is_admin(principal) or self.owners.get(stream_id) == principal.user_id

    def can_moderate(self, principal: Principal, stream_id: str) -> bool:
        return self.owns(principal, stream_id) or principal.user_id in self.moderators.get(
            stream_id, frozenset()
        )
