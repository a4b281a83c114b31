"""Realistic, reproducible event logs for tests, replay checks and benchmarks.

`generate(seed, streams, seconds)` plays a few live streams second by second: viewers join,
send heartbeats, leave or go silent; chat flows with moderation verdicts (mostly allow, some
held then approved, some blocked); reactions come in bursts; polls and quiz questions open
and close with votes and answers, some too late; tips are captured, some twice with the same
idempotency key, some refunded or failed; settings change. A share of events is duplicated a
little later, as a retrying client would. The same seed gives the same events, ids included.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.events import Event, new_event

START = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)
REACTION_KINDS = ("heart", "fire", "laugh", "clap", "wow", "sad", "hype")
DEVICES = ("phone", "tablet", "desktop", "tv", "other")
CURRENCIES = ("EUR", "USD")


class _Stream:
    def __init__(self, rng: random.Random, stream_id: str, log: list[Event], verdicts: bool):
        self.rng = rng
        self.stream_id = stream_id
        self.log = log
        self.verdicts = verdicts
        self.streamer = f"{stream_id}-host"
        self.sessions: dict[str, str] = {}  # live session -> viewer
        self.held: list[str] = []
        self.messages: list[str] = []
        self.poll: tuple[str, list[str], bool, int] | None = None  # id, options, multi, closes
        self.question: tuple[str, str, list[str], int] | None = None  # quiz, id, options, ends
        self.captured: list[tuple[str, str, str, int]] = []  # tip id, key, currency, amount
        self.counter = 0

    def ident(self, prefix: str) -> str:
        self.counter += 1
        return f"{self.stream_id}-{prefix}{self.counter}"

    def emit(self, type_: str, ms: int, actor: str, **payload: Any) -> Event:
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        at = START + timedelta(milliseconds=ms)
        event = new_event(
            type_,
            stream_id=self.stream_id,
            actor_id=actor,
            event_id=event_id,
            occurred_at=at,
            **payload,
        )
        self.log.append(event)
        return event

    def second(self, t: int, seconds: int) -> None:
        rng = self.rng
        base = t * 1000
        if t == 0:
            self.emit(
                "livefold.stream.Created",
                base,
                self.streamer,
                title=f"Stream {self.stream_id}",
                category="games",
                tags=["speedrun"],
                scheduled_start=START + timedelta(seconds=1),
                language="en",
            )
            return
        if t == 1:
            self.emit("livefold.stream.WentLive", base, self.streamer, ingest_id=None)
        if t == seconds - 1:
            self.emit("livefold.stream.Ended", base + 999, self.streamer, reason="streamer_ended")
        if rng.random() < 0.01:
            self.emit(
                "livefold.stream.SettingsChanged",
                base + rng.randrange(1000),
                self.streamer,
                title=f"Stream {self.stream_id} at {t}",
            )
        if rng.random() < 0.005:
            self.emit(
                "livefold.moderation.ChatModeChanged",
                base + rng.randrange(1000),
                self.streamer,
                slow_seconds=rng.choice((0, 5, 30)),
                emote_only=False,
                subscribers_only=False,
            )
        self.audience(base)
        self.chat(base)
        for _ in range(rng.randrange(6)):
            self.emit(
                "livefold.reactions.ReactionSent",
                base + rng.randrange(1000),
                self.viewer(),
                kind=rng.choice(REACTION_KINDS),
                count=rng.randint(1, 20),
            )
        self.polls(t, base)
        self.quiz(t, base)
        self.tips(base)

    def viewer(self) -> str:
        if self.sessions:
            return self.rng.choice(list(self.sessions.values()))
        return f"{self.stream_id}-anon"

    def audience(self, base: int) -> None:
        rng = self.rng
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            session = self.ident("session")
            viewer = f"viewer{rng.randrange(400)}"
            self.sessions[session] = viewer
            self.emit(
                "livefold.audience.ViewerJoined",
                base + rng.randrange(1000),
                viewer,
                viewer_id=viewer,
                session_id=session,
                device=rng.choice(DEVICES),
                country=rng.choice((None, "DE", "US", "BR")),
            )
        for session, viewer in list(self.sessions.items()):
            roll = rng.random()
            if roll < 0.004:
                self.emit(
                    "livefold.audience.ViewerLeft",
                    base + rng.randrange(1000),
                    viewer,
                    viewer_id=viewer,
                    session_id=session,
                )
                del self.sessions[session]
            elif roll < 0.006:
                del self.sessions[session]  # goes silent: only heartbeat expiry ends it
            elif roll < 0.056:  # a heartbeat about every 20 s
                self.emit(
                    "livefold.audience.ViewerHeartbeat",
                    base + rng.randrange(1000),
                    viewer,
                    viewer_id=viewer,
                    session_id=session,
                )

    def chat(self, base: int) -> None:
        rng = self.rng
        for _ in range(rng.randrange(5)):
            message_id = self.ident("msg")
            ms = base + rng.randrange(1000)
            self.emit(
                "livefold.chat.MessageSent",
                ms,
                self.viewer(),
                message_id=message_id,
                text=rng.choice(("hi", "gg", "wow that jump", "PogChamp", "first time here")),
                reply_to=self.messages[-1] if self.messages and rng.random() < 0.1 else None,
            )
            self.messages = [*self.messages[-20:], message_id]
            if not self.verdicts:
                continue
            roll = rng.random()
            verdict = "allow" if roll < 0.9 else "hold" if roll < 0.97 else "block"
            self.verdict(ms + rng.randrange(1, 40), message_id, verdict, "automod")
            if verdict == "hold":
                self.held.append(message_id)
        if self.held and rng.random() < 0.2:
            self.verdict(base + 999, self.held.pop(0), "allow", "moderator")
        if self.messages and rng.random() < 0.01:
            self.emit(
                "livefold.chat.MessageDeleted",
                base + 999,
                self.streamer,
                message_id=rng.choice(self.messages),
                reason="moderator",
            )
        if self.messages and rng.random() < 0.01:
            self.emit(
                "livefold.chat.MessagePinned",
                base + 999,
                self.streamer,
                message_id=self.messages[-1],
                pinned=True,
                until=None,
            )

    def verdict(self, ms: int, message_id: str, verdict: str, rule: str) -> None:
        actor = "system" if rule == "automod" else self.streamer
        score = 0.1 if verdict == "allow" else 0.9
        self.emit(
            "livefold.moderation.VerdictIssued",
            ms,
            actor,
            message_id=message_id,
            verdict=verdict,
            rule=rule,
            score=score,
        )

    def polls(self, t: int, base: int) -> None:
        rng = self.rng
        if self.poll is None and t % 120 == 5:
            poll_id = self.ident("poll")
            options = [f"o{i}" for i in range(rng.randint(2, 5))]
            multi = rng.random() < 0.3
            self.emit(
                "livefold.polls.PollCreated",
                base,
                self.streamer,
                poll_id=poll_id,
                question="Which route next?",
                options=[{"option_id": o, "text": f"Route {o}"} for o in options],
                multi_select=multi,
                allow_vote_change=rng.random() < 0.5,
                duration_seconds=60,
            )
            self.emit("livefold.polls.PollOpened", base + 10, self.streamer, poll_id=poll_id)
            self.poll = (poll_id, options, multi, base + 10 + 60_000)
        if self.poll is None:
            return
        poll_id, options, multi, closes = self.poll
        for _ in range(rng.randrange(12)):
            chosen = rng.sample(options, rng.randint(1, 2) if multi else 1)
            self.emit(
                "livefold.polls.VoteCast",
                base + rng.randrange(1000),
                self.viewer(),
                poll_id=poll_id,
                option_ids=chosen,
            )
        if base > closes + 3000:  # votes kept coming a few seconds past the deadline
            closed = "livefold.polls.PollClosed"
            self.emit(closed, base, self.streamer, poll_id=poll_id, reason="expired")
            self.poll = None

    def quiz(self, t: int, base: int) -> None:
        rng = self.rng
        if self.question is None and t % 90 == 30:
            question_id = self.ident("q")
            options = ["a", "b", "c", "d"]
            self.emit(
                "livefold.quiz.QuizQuestionPosed",
                base,
                self.streamer,
                quiz_id=f"{self.stream_id}-quiz",
                question_id=question_id,
                question="Which year?",
                options=[{"option_id": o, "text": o.upper()} for o in options],
                correct_option=rng.choice(options),
                points=100,
                time_limit_seconds=20,
            )
            self.question = (f"{self.stream_id}-quiz", question_id, options, base + 20_000)
        if self.question is None:
            return
        quiz_id, question_id, options, ends = self.question
        for _ in range(rng.randrange(8)):
            self.emit(
                "livefold.quiz.QuizAnswerSubmitted",
                base + rng.randrange(1000),
                self.viewer(),
                quiz_id=quiz_id,
                question_id=question_id,
                option_id=rng.choice(options),
            )
        if base > ends + 2000:
            self.emit(
                "livefold.quiz.QuizAnswerRevealed",
                base,
                self.streamer,
                quiz_id=quiz_id,
                question_id=question_id,
                correct_option=options[0],
            )
            self.question = None

    def tips(self, base: int) -> None:
        rng = self.rng
        if rng.random() < 0.05:
            tip_id, key = self.ident("tip"), self.ident("key")
            currency, amount = rng.choice(CURRENCIES), rng.choice((100, 500, 1000, 2500))
            supporter = self.viewer()
            message = rng.choice((None, "love the stream"))
            self.emit(
                "livefold.tips.TipIntentCreated",
                base,
                supporter,
                tip_id=tip_id,
                amount_minor=amount,
                currency=currency,
                message=message,
                idempotency_key=key,
            )
            if message is not None and self.verdicts:
                self.emit(
                    "livefold.moderation.ContentJudged",
                    base + 20,
                    "system",
                    subject="tip_message",
                    subject_id=tip_id,
                    author_id=supporter,
                    verdict="allow",
                    rule="clean",
                    score=0.1,
                )
            if rng.random() < 0.1:
                self.emit(
                    "livefold.tips.TipFailed",
                    base + 500,
                    "system",
                    tip_id=tip_id,
                    reason="declined",
                    idempotency_key=key,
                )
                return
            for _ in range(2 if rng.random() < 0.1 else 1):  # a retried webhook
                self.emit(
                    "livefold.tips.TipCaptured",
                    base + 500,
                    "system",
                    tip_id=tip_id,
                    amount_minor=amount,
                    currency=currency,
                    provider_reference=None,
                    idempotency_key=key,
                )
            self.captured.append((tip_id, key, currency, amount))
        if self.captured and rng.random() < 0.005:
            tip_id, key, currency, amount = self.captured.pop(0)
            self.emit(
                "livefold.tips.TipRefunded",
                base + 700,
                "system",
                tip_id=tip_id,
                amount_minor=amount // 2,
                currency=currency,
                reason="chargeback",
                idempotency_key=key,
            )


def generate(
    seed: int = 1,
    streams: int = 3,
    seconds: int = 300,
    duplicates: float = 0.01,
    verdicts: bool = True,
) -> list[Event]:
    """The events of `streams` streams live for `seconds` seconds, in order of occurred_at.

    `duplicates` is the share of events appended again (same event id) a few events later.
    `verdicts=False` leaves moderation verdicts out, for a run where moderation decides them.
    """
    rng = random.Random(seed)
    per_stream: list[list[Event]] = []
    for number in range(streams):
        log: list[Event] = []
        stream = _Stream(rng, f"stream{number + 1}", log, verdicts)
        for t in range(seconds):
            stream.second(t, seconds)
        per_stream.append(log)
    events = sorted(
        (event for log in per_stream for event in log),
        key=lambda event: (event.occurred_at_ms, event.stream_id),
    )
    with_duplicates: list[Event] = []
    pending: list[tuple[int, Event]] = []
    for index, event in enumerate(events):
        with_duplicates.append(event)
        if rng.random() < duplicates:
            pending.append((index + rng.randint(1, 50), event))
        if pending and pending[0][0] <= index:
            with_duplicates += [again for due, again in pending if due <= index]
            pending = [(due, again) for due, again in pending if due > index]
    with_duplicates += [event for _, event in pending]
    return with_duplicates
