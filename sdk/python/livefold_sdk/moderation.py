"""Moderation calls (flags from anyone; the rest for a stream's moderators and streamer), the
part of `livefold_sdk.api.Endpoints` that acts on chat and users."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from livefold_sdk.transport import Call, segment

W = TypeVar("W")
R = TypeVar("R")
FlagReason = Literal["spam", "harassment", "hate", "sexual", "violence", "self_harm", "other"]
TermMatch = Literal["word", "substring", "regex"]


def _mod(stream_id: str, rest: str = "") -> str:
    return f"/streams/{segment(stream_id)}/moderation{rest}"


class ModerationEndpoints(Generic[W, R]):
    def _json(self, call: Call) -> R:
        raise NotImplementedError

    def _write(self, method: str, path: str, key: str | None = None, **body: Any) -> W:
        raise NotImplementedError

    def flag_message(
        self,
        stream_id: str,
        message_id: str,
        reason: FlagReason,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Flag a message for the moderators' review (anyone signed in)."""
        path = f"/streams/{segment(stream_id)}/chat/{segment(message_id)}/flags"
        return self._write("POST", path, idempotency_key, reason=reason, note=note)

    def approve_message(
        self,
        stream_id: str,
        message_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        path = _mod(stream_id, f"/queue/{segment(message_id)}/approve")
        return self._write("POST", path, idempotency_key, reason=reason)

    def reject_message(
        self,
        stream_id: str,
        message_id: str,
        *,
        reason: str | None = None,
        timeout_until: int | None = None,
        ban_author: bool | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Reject a held or flagged message; optionally time out or ban its author too."""
        path = _mod(stream_id, f"/queue/{segment(message_id)}/reject")
        return self._write(
            "POST", path, idempotency_key, reason=reason, timeout_until=timeout_until,
            ban_author=ban_author,
        )  # fmt: skip

    def time_out(
        self,
        stream_id: str,
        user_id: str,
        until: int,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        path = _mod(stream_id, "/timeouts")
        return self._write(
            "POST", path, idempotency_key, user_id=user_id, until=until, reason=reason
        )

    def ban(
        self,
        stream_id: str,
        user_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        path = _mod(stream_id, "/bans")
        return self._write("POST", path, idempotency_key, user_id=user_id, reason=reason)

    def unban(
        self,
        stream_id: str,
        user_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Lift a ban or a timeout."""
        path = _mod(stream_id, f"/bans/{segment(user_id)}")
        return self._write("DELETE", path, idempotency_key, reason=reason)

    def block_term(
        self,
        stream_id: str,
        term: str,
        match: TermMatch = "word",
        *,
        idempotency_key: str | None = None,
    ) -> W:
        path = _mod(stream_id, "/blocked-terms")
        return self._write("POST", path, idempotency_key, term=term, match=match)

    def unblock_term(self, stream_id: str, term: str, *, idempotency_key: str | None = None) -> W:
        path = _mod(stream_id, f"/blocked-terms/{segment(term)}")
        return self._write("DELETE", path, idempotency_key)

    def allow_term(self, stream_id: str, term: str, *, idempotency_key: str | None = None) -> W:
        path = _mod(stream_id, "/allowed-terms")
        return self._write("POST", path, idempotency_key, term=term)

    def disallow_term(self, stream_id: str, term: str, *, idempotency_key: str | None = None) -> W:
        path = _mod(stream_id, f"/allowed-terms/{segment(term)}")
        return self._write("DELETE", path, idempotency_key)

    def set_chat_modes(
        self,
        stream_id: str,
        *,
        slow_seconds: int = 0,
        followers_only_minutes: int | None = None,
        emote_only: bool = False,
        subscribers_only: bool = False,
        idempotency_key: str | None = None,
    ) -> W:
        """Set every chat mode at once (followers_only_minutes None: off)."""
        return self._write(
            "PUT", _mod(stream_id, "/chat-modes"), idempotency_key, slow_seconds=slow_seconds,
            followers_only_minutes=followers_only_minutes, emote_only=emote_only,
            subscribers_only=subscribers_only,
        )  # fmt: skip

    def change_filters(
        self, stream_id: str, *, idempotency_key: str | None = None, **settings: Any
    ) -> W:
        """Change automatic filters (classifier_level, links_allowed, caps_ratio, ...)."""
        return self._write("PATCH", _mod(stream_id, "/filters"), idempotency_key, **settings)

    def appoint_moderator(
        self, stream_id: str, user_id: str, *, idempotency_key: str | None = None
    ) -> W:
        """The streamer makes `user_id` a moderator of the stream."""
        path = f"/streams/{segment(stream_id)}/moderators"
        return self._write("POST", path, idempotency_key, user_id=user_id)

    def remove_moderator(
        self, stream_id: str, user_id: str, *, idempotency_key: str | None = None
    ) -> W:
        path = f"/streams/{segment(stream_id)}/moderators/{segment(user_id)}"
        return self._write("DELETE", path, idempotency_key)

    def block_user(self, stream_id: str, user_id: str, *, idempotency_key: str | None = None) -> W:
        path = f"/streams/{segment(stream_id)}/blocked-users"
        return self._write("POST", path, idempotency_key, user_id=user_id)

    def unblock_user(
        self, stream_id: str, user_id: str, *, idempotency_key: str | None = None
    ) -> W:
        path = f"/streams/{segment(stream_id)}/blocked-users/{segment(user_id)}"
        return self._write("DELETE", path, idempotency_key)

    def review_queue(self, stream_id: str) -> R:
        """Held and flagged messages awaiting a moderator, oldest first."""
        return self._json(Call("GET", _mod(stream_id, "/queue")))

    def mod_log(self, stream_id: str) -> R:
        return self._json(Call("GET", _mod(stream_id, "/log")))

    def moderators(self, stream_id: str) -> R:
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/moderators"))
