"""Texts others see besides chat go through chat's moderation: a tip's message and a clip's title
get a ContentJudged verdict from the same rules (bans and timeouts, blocked terms, the
classifier), derived from the event so a replay decides the same; every ban, timeout and block
publishes who may not write, for the gateway to refuse them; clips are listed only once
allowed, whichever of the clip and its verdict comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from livefold import media
from livefold.folding import Output, Update, fold_all
from livefold.moderation.fold import CONTENT_JUDGED, fold
from livefold.moderation.state import ModerationState
from streams.events import Event, new_event

T0 = datetime(2026, 5, 1, 20, 0, tzinfo=UTC)
STREAM, STREAMER, VIEWER, TROLL = "stream-1", "streamer", "viewer-1", "troll-9"


def made(at: float, type_: str, actor: str, **payload: Any) -> Event:
    moment = T0 + timedelta(seconds=at)
    return new_event(type_, stream_id=STREAM, actor_id=actor, occurred_at=moment, **payload)


def tip(at: float, actor: str, message: str | None, tip_id: str = "t1") -> Event:
    return made(
        at, "livefold.tips.TipIntentCreated", actor, tip_id=tip_id, amount_minor=500,
        currency="EUR", message=message, idempotency_key=f"key-{tip_id}",
    )  # fmt: skip


def clip(at: float, actor: str, title: str, clip_id: str = "c1") -> Event:
    return made(
        at, "livefold.media.ClipCreated", actor, clip_id=clip_id, recording_id=None,
        start_offset_ms=0, end_offset_ms=10_000, title=title,
    )  # fmt: skip


def moderated(*events: Event) -> tuple[ModerationState, list[Output]]:
    state: ModerationState | None = None
    outputs: list[Output] = []
    for event in [
        made(0, "livefold.stream.Created", STREAMER, title="t", category="c", tags=[]),
        made(0.1, "livefold.moderation.TermBlocked", STREAMER, term="scam", match="word"),
        *events,
    ]:
        state, produced = fold(state, event)
        outputs += produced
    assert state is not None
    return state, outputs


def verdicts(outputs: list[Output]) -> list[tuple[str, str, str, str]]:
    return [
        (o.body["subject"], o.body["subject_id"], o.body["verdict"], o.body["rule"])
        for o in outputs
        if isinstance(o, Event) and o.type == CONTENT_JUDGED
    ]


def test_tip_messages_and_clip_titles_are_judged_by_chats_rules() -> None:
    first_tip = tip(1, VIEWER, "great run!", "t1")
    _, outputs = moderated(
        first_tip,
        tip(2, VIEWER, "s c a m here", "t2"),
        tip(3, VIEWER, None, "t3"),  # no text of the author's to show: nothing to judge
        clip(4, VIEWER, "the jump", "c1"),
        clip(5, VIEWER, "free SCAM", "c2"),
    )
    assert verdicts(outputs) == [
        ("tip_message", "t1", "allow", "clean"),
        ("tip_message", "t2", "block", "blocked_term"),
        ("clip_title", "c1", "allow", "clean"),
        ("clip_title", "c2", "block", "blocked_term"),
    ]
    judged = [o for o in outputs if isinstance(o, Event) and o.type == CONTENT_JUDGED]
    assert {o.actor_id for o in judged} == {"system"}
    assert {o.body["author_id"] for o in judged} == {VIEWER}
    _, again = moderated(first_tip)  # a replay
    first = next(o for o in judged if o.body["subject_id"] == "t1")
    assert [o.event_id for o in again if isinstance(o, Event)] == [first.event_id]  # derived


def test_a_banned_or_timed_out_author_gets_every_text_blocked_and_restrictions_are_published() -> (
    None
):
    until = int((T0 + timedelta(seconds=60)).timestamp() * 1000)
    state, outputs = moderated(
        made(1, "livefold.moderation.UserBanned", STREAMER, user_id=TROLL, reason="abuse"),
        made(2, "livefold.moderation.UserTimedOut", STREAMER, user_id=VIEWER, until=until),
        tip(3, TROLL, "hello", "t1"),
        clip(4, TROLL, "innocent title", "c1"),
        clip(5, VIEWER, "during the timeout", "c2"),
        clip(61, VIEWER, "after the timeout", "c3"),
    )
    assert [(v[1], v[2], v[3]) for v in verdicts(outputs)] == [
        ("t1", "block", "banned"),
        ("c1", "block", "banned"),
        ("c2", "block", "timed_out"),
        ("c3", "allow", "clean"),
    ]
    restrictions = [
        o.value for o in outputs if isinstance(o, Update) and o.key == f"{STREAM}/restrictions"
    ]
    assert restrictions[0] == {
        "stream_id": STREAM,
        "banned": [TROLL],
        "timeouts": {},
        "blocked_users": [],
    }
    assert restrictions[-1]["timeouts"] == {VIEWER: until}
    _, lifted = fold(state, made(70, "livefold.moderation.UserUnbanned", STREAMER, user_id=TROLL))
    (published,) = [o.value for o in lifted if isinstance(o, Update) and "restrictions" in o.key]
    assert published["banned"] == []


def test_a_clip_is_listed_once_allowed_whichever_comes_first_and_never_if_blocked() -> None:
    _, judged = moderated(clip(1, VIEWER, "the jump", "c1"), clip(2, VIEWER, "scam", "c2"))
    verdict_events = [o for o in judged if isinstance(o, Event)]
    clips = [clip(1, VIEWER, "the jump", "c1"), clip(2, VIEWER, "scam", "c2")]
    recording = made(
        3, "livefold.media.RecordingFinished", "system", recording_id="r1", bucket="vods",
        s3_key="s/r1.mp4", duration_ms=60_000, size_bytes=None,
    )  # fmt: skip
    states, outputs = fold_all(media, [*clips, *verdict_events, recording])
    listed = {o.key: o.value for o in outputs if isinstance(o, Update)}
    assert sorted(listed) == [f"{STREAM}/clip/c1", f"{STREAM}/vod/r1"]
    assert listed[f"{STREAM}/clip/c1"]["title"] == "the jump"
    assert listed[f"{STREAM}/clip/c1"]["by"] == VIEWER
    reversed_states, reversed_outputs = fold_all(media, [recording, *verdict_events, *clips])
    assert reversed_states == states
    assert {o.key for o in reversed_outputs if isinstance(o, Update)} == set(listed)
