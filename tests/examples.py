"""One realistic event of every livefold type, every field set, for tests and benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.events import Event, new_event

STREAM = "stream-7f3a"
STREAMER = "user-streamer-1"
VIEWER = "user-viewer-42"
AT = datetime(2026, 5, 1, 18, 30, 15, 123_000, tzinfo=UTC)
LATER = datetime(2026, 5, 1, 18, 40, tzinfo=UTC)

POLL_OPTIONS = [
    {"option_id": "a", "text": "Dark Souls"},
    {"option_id": "b", "text": "Elden Ring"},
    {"option_id": "c", "text": "Sekiro"},
]
TIP = {"tip_id": "tip-91", "idempotency_key": "idem-7c1e2d"}
CHAT_MODES = {
    "slow_seconds": 30,
    "followers_only_minutes": 10,
    "emote_only": False,
    "subscribers_only": True,
}

# type -> (actor, payload)
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "livefold.stream.Created": (
        STREAMER,
        {
            "title": "Blind run, day 3",
            "category": "Elden Ring",
            "tags": ["blind", "souls", "english"],
            "scheduled_start": LATER,
            "language": "en",
        },
    ),
    "livefold.stream.WentLive": (STREAMER, {"ingest_id": "ingest-5"}),
    "livefold.stream.SettingsChanged": (
        STREAMER,
        {
            "title": "Blind run, day 3: Malenia",
            "category": None,
            "tags": ["blind", "souls"],
            "language": "en-GB",
            "chat_modes": CHAT_MODES,
            "reactions_enabled": True,
        },
    ),
    "livefold.stream.Ended": ("system", {"reason": "ingest_lost", "duration_ms": 7_260_000}),
    "livefold.chat.MessageSent": (
        VIEWER,
        {
            "message_id": "msg-1001",
            "text": "that dodge was clean Kappa Kappa",
            "reply_to": "msg-0999",
            "badges": ["subscriber"],
            "emotes": [
                {"name": "Kappa", "positions": [{"start": 21, "end": 26}, {"start": 27, "end": 32}]}
            ],
        },
    ),
    "livefold.chat.MessageDeleted": (STREAMER, {"message_id": "msg-1001", "reason": "moderator"}),
    "livefold.chat.MessagePinned": (
        STREAMER,
        {"message_id": "msg-1002", "pinned": True, "until": LATER},
    ),
    "livefold.reactions.ReactionSent": (VIEWER, {"kind": "fire", "count": 12}),
    "livefold.polls.PollCreated": (
        STREAMER,
        {
            "poll_id": "poll-3",
            "question": "Which game next?",
            "options": POLL_OPTIONS,
            "multi_select": False,
            "allow_vote_change": True,
            "duration_seconds": 120,
        },
    ),
    "livefold.polls.PollOpened": (STREAMER, {"poll_id": "poll-3", "closes_at": LATER}),
    "livefold.polls.VoteCast": (VIEWER, {"poll_id": "poll-3", "option_ids": ["b"]}),
    "livefold.polls.PollClosed": ("system", {"poll_id": "poll-3", "reason": "expired"}),
    "livefold.quiz.QuizQuestionPosed": (
        STREAMER,
        {
            "quiz_id": "quiz-1",
            "question_id": "q-4",
            "question": "Which boss drops the Moonveil?",
            "options": POLL_OPTIONS,
            "correct_option": "c",
            "points": 100,
            "time_limit_seconds": 20,
        },
    ),
    "livefold.quiz.QuizAnswerSubmitted": (
        VIEWER,
        {"quiz_id": "quiz-1", "question_id": "q-4", "option_id": "a"},
    ),
    "livefold.quiz.QuizAnswerRevealed": (
        STREAMER,
        {"quiz_id": "quiz-1", "question_id": "q-4", "correct_option": "c"},
    ),
    "livefold.tips.TipIntentCreated": (
        VIEWER,
        {**TIP, "amount_minor": 500, "currency": "EUR", "message": "for the Malenia fight!"},
    ),
    "livefold.tips.TipCaptured": (
        "system",
        {**TIP, "amount_minor": 500, "currency": "EUR", "provider_reference": "ch_3PqXy"},
    ),
    "livefold.tips.TipFailed": ("system", {**TIP, "reason": "insufficient_funds"}),
    "livefold.tips.TipRefunded": (
        "system",
        {**TIP, "amount_minor": 200, "currency": "EUR", "reason": "partial refund on request"},
    ),
    "livefold.moderation.MessageFlagged": (
        VIEWER,
        {"message_id": "msg-1003", "reporter": VIEWER, "reason": "spam", "note": "same link 5x"},
    ),
    "livefold.moderation.VerdictIssued": (
        "system",
        {"message_id": "msg-1003", "verdict": "hold", "rule": "spam_rate", "score": 0.87},
    ),
    "livefold.moderation.ContentJudged": (
        "system",
        {
            "subject": "tip_message",
            "subject_id": "tip-91",
            "author_id": VIEWER,
            "verdict": "allow",
            "rule": "clean",
            "score": 0.02,
        },
    ),
    "livefold.moderation.UserTimedOut": (
        STREAMER,
        {"user_id": "user-troll-9", "until": LATER, "reason": "spamming links"},
    ),
    "livefold.moderation.UserBanned": (
        STREAMER,
        {"user_id": "user-troll-9", "reason": "repeated harassment"},
    ),
    "livefold.moderation.UserUnbanned": (STREAMER, {"user_id": "user-troll-9", "reason": "appeal"}),
    "livefold.moderation.TermBlocked": (STREAMER, {"term": "bit.ly/", "match": "substring"}),
    "livefold.moderation.TermUnblocked": (STREAMER, {"term": "bit.ly/"}),
    "livefold.moderation.ChatModeChanged": (STREAMER, CHAT_MODES),
    "livefold.moderation.MessageReviewed": (
        STREAMER,
        {
            "message_id": "msg-1003",
            "decision": "reject",
            "reason": "link spam",
            "timeout_until": LATER,
            "ban_author": False,
        },
    ),
    "livefold.moderation.ModeratorAppointed": (STREAMER, {"user_id": "user-mod-3"}),
    "livefold.moderation.ModeratorRemoved": (STREAMER, {"user_id": "user-mod-3"}),
    "livefold.moderation.TermAllowed": (STREAMER, {"term": "Scunthorpe"}),
    "livefold.moderation.TermDisallowed": (STREAMER, {"term": "Scunthorpe"}),
    "livefold.moderation.UserBlocked": (STREAMER, {"user_id": "user-troll-9"}),
    "livefold.moderation.UserUnblocked": (STREAMER, {"user_id": "user-troll-9"}),
    "livefold.moderation.FilterSettingsChanged": (
        STREAMER,
        {
            "classifier_level": "high",
            "links_allowed": False,
            "allowed_domains": ["livefold.tv", "wikipedia.org"],
            "duplicate_window_seconds": 30,
            "rate_limit_messages": 20,
            "rate_limit_seconds": 30,
            "caps_min_letters": 15,
            "caps_ratio": 0.8,
            "max_emotes": 12,
            "max_mentions": 5,
            "category_levels": {"profanity": "low", "threat": "high"},
        },
    ),
    "livefold.audience.ViewerJoined": (
        VIEWER,
        {
            "viewer_id": VIEWER,
            "session_id": "sess-77",
            "device": "tv",
            "country": "DE",
            "timeout_ms": 60_000,
        },
    ),
    "livefold.audience.ViewerLeft": (VIEWER, {"viewer_id": VIEWER, "session_id": "sess-77"}),
    "livefold.audience.ViewerHeartbeat": (
        VIEWER,
        {"viewer_id": VIEWER, "session_id": "sess-77", "timeout_ms": 60_000},
    ),
    "livefold.audience.Followed": (VIEWER, {"channel_id": STREAMER}),
    "livefold.audience.Unfollowed": (VIEWER, {"channel_id": STREAMER}),
    "livefold.costream.GuestInvited": (
        STREAMER,
        {"invite_id": "inv-2", "guest_id": "user-guest-5", "expires_at": LATER},
    ),
    "livefold.costream.GuestAccepted": (
        "user-guest-5",
        {"invite_id": "inv-2", "guest_id": "user-guest-5"},
    ),
    "livefold.costream.GuestJoinedStage": (
        "user-guest-5",
        {"invite_id": "inv-2", "guest_id": "user-guest-5"},
    ),
    "livefold.costream.GuestMuted": (
        STREAMER,
        {"invite_id": "inv-2", "guest_id": "user-guest-5", "muted": True},
    ),
    "livefold.costream.GuestLeftStage": (
        STREAMER,
        {"invite_id": "inv-2", "guest_id": "user-guest-5", "reason": "kicked"},
    ),
    "livefold.media.IngestStarted": (
        STREAMER,
        {
            "ingest_id": "ingest-5",
            "protocol": "webrtc",
            "codec": "h264",
            "width": 1920,
            "height": 1080,
            "fps": 59.94,
            "audio_codec": "opus",
            "media_instance": "media-1:8900",
        },
    ),
    "livefold.media.IngestHealth": (
        "system",
        {
            "ingest_id": "ingest-5",
            "bitrate_kbps": 5980.4,
            "fps": 59.8,
            "dropped_frames": 12,
            "interval_ms": 5003,
        },
    ),
    "livefold.media.IngestStopped": ("system", {"ingest_id": "ingest-5", "reason": "disconnected"}),
    "livefold.media.RecordingFinished": (
        "system",
        {
            "recording_id": "rec-5",
            "bucket": "livefold-recordings",
            "s3_key": "stream-7f3a/rec-5.mp4",
            "duration_ms": 7_260_000,
            "size_bytes": 3_221_225_472,
        },
    ),
    "livefold.media.ClipCreated": (
        VIEWER,
        {
            "clip_id": "clip-8",
            "recording_id": "rec-5",
            "start_offset_ms": 3_600_000,
            "end_offset_ms": 3_630_000,
            "title": "The no-hit phase two",
        },
    ),
    "livefold.media.ClipReady": (
        "system",
        {
            "clip_id": "clip-8",
            "recording_id": "rec-5",
            "bucket": "livefold-clips",
            "video_key": "clips/stream-1/clip-8.mp4",
            "thumbnail_key": "clips/stream-1/clip-8.jpg",
            "start_offset_ms": 3_600_000,
            "duration_ms": 30_000,
            "size_bytes": 4_200_000,
        },
    ),
    "livefold.media.ClipFailed": (
        "system",
        {"clip_id": "clip-9", "reason": "the recording has no segments in that range"},
    ),
    "livefold.media.ThumbnailCaptured": (
        "system",
        {
            "recording_id": "rec-5",
            "bucket": "livefold-recordings",
            "s3_key": "recordings/stream-1/rec-5/thumbnails/0000030000.jpg",
            "offset_ms": 30_000,
        },
    ),
    "livefold.media.StreamKeyRotated": (
        STREAMER,
        {
            "key_id": "key-3",
            "key_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
    ),
    "livefold.notifications.NotificationRequested": (
        "system",
        {
            "notification_id": "notif-12",
            "audience": "followers",
            "recipient_id": None,
            "kind": "stream_live",
            "payload": {"title": "Blind run, day 3", "streamer": "Ashen"},
        },
    ),
    "livefold.notifications.PushSubscribed": (
        VIEWER,
        {
            "endpoint": "https://push.example.net/send/abc123",
            "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1Xbjha"
            "zAkj7I99e8QcYP7DkM",
            "auth": "tBHItJI5svbpez7KI4CCXg",
        },
    ),
    "livefold.notifications.PushUnsubscribed": (
        VIEWER,
        {"endpoint": "https://push.example.net/send/abc123"},
    ),
    "livefold.notifications.WebhookRegistered": (
        STREAMER,
        {"webhook_id": "hook-4", "url": "https://bot.example.net/livefold", "kinds": []},
    ),
    "livefold.notifications.WebhookRemoved": (STREAMER, {"webhook_id": "hook-4"}),
    "livefold.accounts.AccountCreated": (
        "system",
        {
            "user_id": VIEWER,
            "key_id": "dek-42-1",
            "encrypted_profile": b"\x8a\x01\xfe ciphertext",
            "encrypted_credentials": b"\x01\x9c\x07 sealed argon2 hash",
        },
    ),
    "livefold.accounts.ProfileChanged": (
        VIEWER,
        {
            "user_id": VIEWER,
            "key_id": "dek-42-1",
            "encrypted_profile": b"\x8a\x02\x00 more ciphertext",
            "changed_fields": ["display_name", "avatar"],
        },
    ),
    "livefold.accounts.RoleGranted": (
        STREAMER,
        {"user_id": VIEWER, "role": "moderator", "channel_id": STREAMER},
    ),
    "livefold.accounts.RoleRevoked": (
        STREAMER,
        {"user_id": VIEWER, "role": "moderator", "channel_id": STREAMER},
    ),
    "livefold.accounts.SessionStarted": (
        VIEWER,
        {
            "user_id": VIEWER,
            "session_id": "ses-42-7",
            "client_id": "livefold-web",
            "grant_id": "code-42-7",
            "token_id": "rt-42-7-1",
            "expires_at": AT + timedelta(days=30),
        },
    ),
    "livefold.accounts.SessionRefreshed": (
        VIEWER,
        {
            "user_id": VIEWER,
            "session_id": "ses-42-7",
            "parent_token_id": "rt-42-7-1",
            "token_id": "rt-42-7-2",
        },
    ),
    "livefold.accounts.SessionEnded": (
        VIEWER,
        {"user_id": VIEWER, "session_id": "ses-42-7", "reason": "signed_out"},
    ),
    "livefold.folds.EventRefused": (
        VIEWER,
        {
            "refused_event_id": "9b2f7c1e-3d4a-4f6b-8c2d-1e0f9a8b7c6d",
            "refused_type": "livefold.polls.VoteCast",
            "fold": "polls",
            "reason": "poll-3 is closed",
        },
    ),
    "livefold.accounts.AccountDeleted": (
        VIEWER,
        {"user_id": VIEWER, "key_id": "dek-42-1", "reason": "user_request"},
    ),
}


def example(event_type: str, **changes: Any) -> Event:
    """The example event of a type, with some payload fields changed."""
    actor, payload = EXAMPLES[event_type]
    stream = VIEWER if event_type.startswith("livefold.accounts.") else STREAM
    return new_event(
        event_type,
        stream_id=stream,
        actor_id=actor,
        occurred_at=AT,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        **{**payload, **changes},
    )
