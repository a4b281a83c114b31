"""Who may do what on a stream, as the state topics say: the streamer (the actor of the stream's
Created event, from the stream channel) and the moderators the streamer appointed (the
moderation channel's `<stream_id>/staff` view). These change while a token lives, so they are
never read from tokens; platform admins are (the `admin` role), or the platform staff view.
Who may not write at all: the banned, the timed out and those the streamer blocked (the
`<stream_id>/restrictions` view); a ban covers every write but taking back one's own (deleting
one's message, unfollowing).

The folds check every action again when they apply it: this is the gateway's early answer,
so a refused request never reaches the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from livefold.access.tokens import Principal
from streams.state import StateMessage

STAFF = "staff"
PLATFORM = "platform"
MODERATOR_CHANNELS = frozenset({"moderation", "modlog"})  # subscribed to by moderators only
RESTRICTIONS = "restrictions"
UNRESTRICTED = frozenset({"livefold.chat.MessageDeleted", "livefold.audience.Unfollowed"})


@dataclass(frozen=True)
class Restrictions:
    banned: frozenset[str]
    timeouts: dict[str, int]  # user -> may write again at (epoch ms)
    blocked: frozenset[str]


class Rights:
    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.moderators: dict[str, frozenset[str]] = {}
        self.admins: frozenset[str] = frozenset()
        self.restrictions: dict[str, Restrictions] = {}

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
        elif (
            message.channel == "moderation" and message.key == f"{message.stream_id}/{RESTRICTIONS}"
        ):
            value = message.value
            self.restrictions[message.stream_id] = Restrictions(
                banned=frozenset(str(user) for user in value.get("banned") or ()),
                timeouts={
                    str(user): int(until) for user, until in (value.get("timeouts") or {}).items()
                },
                blocked=frozenset(str(user) for user in value.get("blocked_users") or ()),
            )
        return False

    def stream_created(self, stream_id: str, streamer: str) -> None:
        """A stream this gateway just created: its owner until the stream view says so."""
        self.owners.setdefault(stream_id, streamer)

    def is_admin(self, principal: Principal) -> bool:
        return principal.is_admin or principal.user_id in self.admins

    def owns(self, principal: Principal, stream_id: str) -> bool:
        return self.is_admin(principal) or self.owners.get(stream_id) == principal.user_id

    def can_moderate(self, principal: Principal, stream_id: str) -> bool:
        return self.owns(principal, stream_id) or principal.user_id in self.moderators.get(
            stream_id, frozenset()
        )

    def restriction(self, principal: Principal, stream_id: str, now_ms: int) -> str | None:
        """Why the caller may not write in the stream (banned, timed out, blocked), if so."""
        restricted = self.restrictions.get(stream_id)
        if restricted is None or self.can_moderate(principal, stream_id):
            return None
        user = principal.user_id
        if user in restricted.banned:
            return f"you are banned from stream {stream_id}"
        until = restricted.timeouts.get(user)
        if until is not None and until > now_ms:
            return f"you are timed out in stream {stream_id} until {until} (epoch ms)"
        if user in restricted.blocked:
            return f"the streamer of {stream_id} has blocked you"
        return None
