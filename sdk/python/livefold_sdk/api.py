"""The gateway's REST API as typed methods, written once for the sync and the async client.

A write returns `Accepted` (202: the event is in the log; what it changes reaches the state,
and subscribers, a moment later); a read returns the gateway's JSON view. `W` and `R` are what
the concrete client makes of them: the values themselves (`Livefold`) or awaitables of them
(`AsyncLivefold`). Times are epoch milliseconds, money in minor units (cents). Moderation
is in `livefold_sdk.moderation`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from livefold_sdk.moderation import ModerationEndpoints
from livefold_sdk.transport import Call, segment

W = TypeVar("W")
R = TypeVar("R")
Json = dict[str, Any]
Status = Literal["live", "scheduled", "ended"]


def fields(**values: Any) -> dict[str, Any]:
    """A request body without the fields left out (None: the gateway's default applies)."""
    return {name: value for name, value in values.items() if value is not None}


def choices(options: Sequence[str] | Mapping[str, str]) -> list[dict[str, str]]:
    """Poll or quiz options: texts (ids "1", "2"... are made) or {option id: text}."""
    pairs = options.items() if isinstance(options, Mapping) else enumerate(options, 1)
    return [{"option_id": str(key), "text": text} for key, text in pairs]


def option_ids_list(option_ids: str | Sequence[str]) -> list[str]:
    """A vote's choice: one option id, or several (a multi-select poll)."""
    return [option_ids] if isinstance(option_ids, str) else list(option_ids)


class Endpoints(ModerationEndpoints[W, R], Generic[W, R]):
    def _accept(self, call: Call) -> W:
        raise NotImplementedError

    def _json(self, call: Call) -> R:
        raise NotImplementedError

    def _write(self, method: str, path: str, key: str | None = None, **body: Any) -> W:
        return self._accept(Call(method, path, fields(**body), write=True, idempotency_key=key))

    # ------------------------------------------------------------ accounts

    def register(self, username: str, password: str, display_name: str, email: str) -> R:
        """Create a local account (then sign in with `livefold_sdk.sign_in`)."""
        body = fields(username=username, password=password, display_name=display_name)
        return self._json(Call("POST", "/accounts", {**body, "email": email}))

    def me(self) -> R:
        """The signed-in account: id, roles, profile."""
        return self._json(Call("GET", "/accounts/me"))

    def profiles(self, user_ids: Sequence[str]) -> R:
        """Names for user ids (1..100, no sign-in): {"items": [{"user_id", "username",
        "display_name"}]}, one per distinct id in the order asked; null names for an unknown,
        deleted or erased account."""
        return self._json(Call("GET", "/profiles", params={"ids": ",".join(user_ids)}))

    # ------------------------------------------------------------ streams

    def create_stream(
        self,
        title: str,
        category: str,
        *,
        tags: Sequence[str] | None = None,
        scheduled_start: int | None = None,
        language: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Create a stream (scheduled if `scheduled_start` is given); `stream_id` comes back."""
        tag_list = None if tags is None else list(tags)
        return self._write(
            "POST", "/streams", idempotency_key, title=title, category=category, tags=tag_list,
            scheduled_start=scheduled_start, language=language,
        )  # fmt: skip

    def go_live(
        self, stream_id: str, *, ingest_id: str | None = None, idempotency_key: str | None = None
    ) -> W:
        return self._write(
            "POST", f"/streams/{segment(stream_id)}/live", idempotency_key, ingest_id=ingest_id
        )

    def end_stream(
        self, stream_id: str, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> W:
        return self._write(
            "POST", f"/streams/{segment(stream_id)}/end", idempotency_key, reason=reason
        )

    def change_stream(
        self, stream_id: str, *, idempotency_key: str | None = None, **settings: Any
    ) -> W:
        """Change title, category, tags, language, chat_modes or reactions_enabled."""
        return self._write("PATCH", f"/streams/{segment(stream_id)}", idempotency_key, **settings)

    def list_streams(
        self,
        status: Status | None = "live",
        *,
        streamer: str | None = None,
        q: str | None = None,
        category: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> R:
        """A page of streams: {"items": [...], "next_cursor": ...}; one streamer's with
        `streamer`, of every status with `status=None` (live, then scheduled, then ended)."""
        params = fields(
            status=status,
            streamer=streamer,
            q=q,
            category=category,
            tag=tag,
            limit=limit,
            cursor=cursor,
        )
        return self._json(Call("GET", "/streams", params=params))

    def stream(self, stream_id: str) -> R:
        return self._json(Call("GET", f"/streams/{segment(stream_id)}"))

    # ------------------------------------------------------------ chat

    def send_chat(
        self,
        stream_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        emotes: Sequence[Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Send a message (`message_id` comes back); it shows once moderation allows it."""
        emote_list = None if emotes is None else [dict(emote) for emote in emotes]
        path = f"/streams/{segment(stream_id)}/chat"
        return self._write(
            "POST", path, idempotency_key, text=text, reply_to=reply_to, emotes=emote_list
        )

    def delete_chat(
        self, stream_id: str, message_id: str, *, idempotency_key: str | None = None
    ) -> W:
        path = f"/streams/{segment(stream_id)}/chat/{segment(message_id)}"
        return self._write("DELETE", path, idempotency_key)

    def pin_message(
        self,
        stream_id: str,
        message_id: str,
        *,
        until: int | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        path = f"/streams/{segment(stream_id)}/chat/{segment(message_id)}/pin"
        return self._write("POST", path, idempotency_key, until=until)

    def unpin_message(
        self, stream_id: str, message_id: str, *, idempotency_key: str | None = None
    ) -> W:
        path = f"/streams/{segment(stream_id)}/chat/{segment(message_id)}/pin"
        return self._write("DELETE", path, idempotency_key)

    def chat_history(
        self, stream_id: str, *, cursor: str | None = None, limit: int | None = None
    ) -> R:
        """Recent messages, oldest first: {"items", "pinned", "next_cursor"} (page back)."""
        params = fields(cursor=cursor, limit=limit)
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/chat", params=params))

    def chat_scrollback(
        self, stream_id: str, *, before: str | None = None, limit: int | None = None
    ) -> R:
        """The whole chat, past the recent messages `chat_history` pages through: the page of
        messages just before `before` (without it, the newest), oldest first, as the live chat
        shows them: {"messages", "next_cursor"}; pass `next_cursor` as `before` to page back
        (None: that was the stream's first message)."""
        params = fields(before=before, limit=limit)
        path = f"/streams/{segment(stream_id)}/chat/history"
        return self._json(Call("GET", path, params=params))

    # ------------------------------------------------------------ reactions

    def react(
        self, stream_id: str, kind: str, count: int = 1, *, idempotency_key: str | None = None
    ) -> W:
        path = f"/streams/{segment(stream_id)}/reactions"
        return self._write("POST", path, idempotency_key, kind=kind, count=count)

    def reactions(self, stream_id: str) -> R:
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/reactions"))

    # ------------------------------------------------------------ polls

    def create_poll(
        self,
        stream_id: str,
        question: str,
        options: Sequence[str] | Mapping[str, str],
        *,
        duration_seconds: int,
        multi_select: bool = False,
        allow_vote_change: bool = False,
        idempotency_key: str | None = None,
    ) -> W:
        """Create a poll (`poll_id` comes back); open it to start the vote."""
        return self._write(
            "POST", f"/streams/{segment(stream_id)}/polls", idempotency_key, question=question,
            options=choices(options), duration_seconds=duration_seconds,
            multi_select=multi_select, allow_vote_change=allow_vote_change,
        )  # fmt: skip

    def open_poll(
        self,
        stream_id: str,
        poll_id: str,
        *,
        closes_at: int | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        path = f"/streams/{segment(stream_id)}/polls/{segment(poll_id)}/open"
        return self._write("POST", path, idempotency_key, closes_at=closes_at)

    def close_poll(
        self,
        stream_id: str,
        poll_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        path = f"/streams/{segment(stream_id)}/polls/{segment(poll_id)}/close"
        return self._write("POST", path, idempotency_key, reason=reason)

    def vote(
        self,
        stream_id: str,
        poll_id: str,
        option_ids: str | Sequence[str],
        *,
        idempotency_key: str | None = None,
    ) -> W:
        path = f"/streams/{segment(stream_id)}/polls/{segment(poll_id)}/votes"
        return self._write("POST", path, idempotency_key, option_ids=option_ids_list(option_ids))

    def polls(self, stream_id: str) -> R:
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/polls"))

    def poll(self, stream_id: str, poll_id: str) -> R:
        """A poll's status, options with votes and percentages, voters."""
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/polls/{segment(poll_id)}"))

    # ------------------------------------------------------------ what became of a write

    def event_status(self, event_id: str) -> R:
        """What became of an event you wrote (the `event_id` of its 202): `{"status":
        "pending" | "applied" | "rejected", "reason", "event_type"}`, on any gateway (pending:
        on the one that accepted it). To wait for it instead, write through `waiting()`."""
        return self._json(Call("GET", f"/events/{segment(event_id)}"))

    # ------------------------------------------------------------ notifications

    def notifications(self, *, limit: int | None = None, before: int | None = None) -> R:
        """Your notifications, newest first (`before`: epoch ms, to page back), and the
        streams you follow: `{"notifications": [...], "following": [...]}`."""
        return self._json(Call("GET", "/notifications", params=fields(limit=limit, before=before)))

    def vapid_public_key(self) -> R:
        """`{"public_key"}`: the applicationServerKey a browser subscribes to Web Push with."""
        return self._json(Call("GET", "/notifications/vapid-public-key"))

    def register_push_subscription(
        self, endpoint: str, p256dh: str, auth: str, *, idempotency_key: str | None = None
    ) -> W:
        """Deliver your notifications by Web Push to a browser's PushSubscription (its
        endpoint and keys.p256dh, keys.auth)."""
        path = "/notifications/push-subscriptions"
        body = {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}
        return self._write("POST", path, idempotency_key, **body)

    def unregister_push_subscription(
        self, endpoint: str, *, idempotency_key: str | None = None
    ) -> W:
        path = "/notifications/push-subscriptions"
        return self._write("DELETE", path, idempotency_key, endpoint=endpoint)

    def register_webhook(
        self, url: str, kinds: Sequence[str] = (), *, idempotency_key: str | None = None
    ) -> W:
        """POST your notifications (of `kinds`; none: every kind) to `url`, signed with the
        `secret` that comes back (docs/notifications.md: how to check a delivery)."""
        path = "/notifications/webhooks"
        return self._write("POST", path, idempotency_key, url=url, kinds=list(kinds))

    def remove_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> W:
        path = f"/notifications/webhooks/{segment(webhook_id)}"
        return self._write("DELETE", path, idempotency_key)

    # ------------------------------------------------------------ quizzes

    def create_quiz(
        self,
        stream_id: str,
        question: str,
        options: Sequence[str] | Mapping[str, str],
        correct_option: str,
        *,
        points: int = 1,
        time_limit_seconds: int = 30,
        idempotency_key: str | None = None,
    ) -> W:
        """Start a quiz with its first question (`quiz_id` and `question_id` come back, made
        by the gateway as a poll's id is); pose the next ones with `pose_question`."""
        return self._write(
            "POST", f"/streams/{segment(stream_id)}/quizzes", idempotency_key, question=question,
            options=choices(options), correct_option=correct_option, points=points,
            time_limit_seconds=time_limit_seconds,
        )  # fmt: skip

    def pose_question(
        self,
        stream_id: str,
        quiz_id: str,
        question: str,
        options: Sequence[str] | Mapping[str, str],
        correct_option: str,
        *,
        points: int = 1,
        time_limit_seconds: int = 30,
        idempotency_key: str | None = None,
    ) -> W:
        """Pose a question of quiz `quiz_id` (`question_id` comes back); the answer stays hidden
        until revealed. Deprecated for a new quiz: a quiz id of your own choosing still works
        for now, but start a quiz with `create_quiz`, which makes its id."""
        path = f"/streams/{segment(stream_id)}/quizzes/{segment(quiz_id)}/questions"
        return self._write(
            "POST", path, idempotency_key, question=question, options=choices(options),
            correct_option=correct_option, points=points, time_limit_seconds=time_limit_seconds,
        )  # fmt: skip

    def answer_quiz(
        self,
        stream_id: str,
        quiz_id: str,
        question_id: str,
        option_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> W:
        path = (
            f"/streams/{segment(stream_id)}/quizzes/{segment(quiz_id)}"
            f"/questions/{segment(question_id)}/answers"
        )
        return self._write("POST", path, idempotency_key, option_id=option_id)

    def reveal_answer(
        self,
        stream_id: str,
        quiz_id: str,
        question_id: str,
        correct_option: str,
        *,
        idempotency_key: str | None = None,
    ) -> W:
        path = (
            f"/streams/{segment(stream_id)}/quizzes/{segment(quiz_id)}"
            f"/questions/{segment(question_id)}/reveal"
        )
        return self._write("POST", path, idempotency_key, correct_option=correct_option)

    def quizzes(self, stream_id: str) -> R:
        """The stream's quiz questions and leaderboards, as views (each with its `kind`,
        `quiz_id`...), as `polls` lists polls."""
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/quizzes"))

    def leaderboard(self, stream_id: str, quiz_id: str) -> R:
        path = f"/streams/{segment(stream_id)}/quizzes/{segment(quiz_id)}"
        return self._json(Call("GET", path))

    # ------------------------------------------------------------ tips and follows

    def tip(
        self,
        stream_id: str,
        amount_minor: int,
        currency: str,
        *,
        message: str | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Start a tip: `tip_id` and the payment step (`payment`) come back."""
        return self._write(
            "POST", f"/streams/{segment(stream_id)}/tips", idempotency_key,
            amount_minor=amount_minor, currency=currency, message=message,
        )  # fmt: skip

    def tips(self, stream_id: str) -> R:
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/tips"))

    def analytics(self, stream_id: str, bucket: str = "minute") -> R:
        """Engagement per `bucket` ("minute" or "hour") from ClickHouse: viewers, chatters,
        messages, reactions, votes, tips; for the streamer and moderators."""
        path = f"/streams/{segment(stream_id)}/analytics"
        return self._json(Call("GET", path, params={"bucket": bucket}))

    # ------------------------------------------------------------ clips, VODs, chat replay

    def create_clip(
        self,
        stream_id: str,
        title: str,
        *,
        start_offset_ms: int | None = None,
        end_offset_ms: int | None = None,
        recording_id: str | None = None,
        last_ms: int | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """Cut a clip: a range in ms of a recording (the newest by default), or the last
        `last_ms` (5000..60000) of the live stream. `clip_id` comes back; it plays once
        `clip(clip_id)["status"]` is "ready"."""
        path = f"/streams/{segment(stream_id)}/clips"
        return self._write(
            "POST",
            path,
            idempotency_key,
            title=title,
            start_offset_ms=start_offset_ms,
            end_offset_ms=end_offset_ms,
            recording_id=recording_id,
            last_ms=last_ms,
        )

    def clip(self, clip_id: str) -> R:
        """A clip by id (the shareable address): status, range, `video_url`, `thumbnail_url`."""
        return self._json(Call("GET", f"/clips/{segment(clip_id)}"))

    def clips(self, stream_id: str, *, cursor: str | None = None, limit: int | None = None) -> R:
        params = fields(cursor=cursor, limit=limit)
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/clips", params=params))

    def recordings(
        self, stream_id: str, *, cursor: str | None = None, limit: int | None = None
    ) -> R:
        """Recordings, newest first, each with `duration_ms` and its HLS `playlist_url`."""
        params = fields(cursor=cursor, limit=limit)
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/vods", params=params))

    def recording(self, stream_id: str, recording_id: str) -> R:
        path = f"/streams/{segment(stream_id)}/vods/{segment(recording_id)}"
        return self._json(Call("GET", path))

    def replay(
        self,
        stream_id: str,
        *,
        recording_id: str | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> R:
        """Chat, reactions and polls of a recording, each with `offset_ms` from its start:
        {"origin", "items", "next_cursor"}; deleted and blocked messages are left out."""
        params = fields(
            recording_id=recording_id, from_ms=from_ms, to_ms=to_ms, cursor=cursor, limit=limit
        )
        return self._json(Call("GET", f"/streams/{segment(stream_id)}/replay", params=params))

    def follow(self, stream_id: str, *, idempotency_key: str | None = None) -> W:
        return self._write("PUT", f"/streams/{segment(stream_id)}/follow", idempotency_key)

    def unfollow(self, stream_id: str, *, idempotency_key: str | None = None) -> W:
        return self._write("DELETE", f"/streams/{segment(stream_id)}/follow", idempotency_key)
