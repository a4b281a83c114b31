from __future__ import annotations

import itertools

import pytest

from livefold import notifications
from livefold.folding import Notice, digest, facts
from streams.events import Event
from tests.fold_events import again, at, event, run

N = notifications


def created(t: float = 0, **changes: object) -> Event:
    body = {
        "title": "Speedrun",
        "category": "Games",
        "tags": [],
        "scheduled_start": None,
        "language": None,
        **changes,
    }
    return event(N.CREATED, t, actor="streamer-1", **body)


def follow(user: str, t: float = 1) -> Event:
    return event(N.FOLLOWED, t, actor=user, channel_id="streamer-1")


def message(message_id: str, author: str, t: float, reply_to: str | None = None) -> Event:
    return event(
        N.MESSAGE_SENT,
        t,
        actor=author,
        message_id=message_id,
        text="hi",
        reply_to=reply_to,
        emotes=[],
        badges=[],
    )


def verdict(message_id: str, t: float, decision: str = "allow") -> Event:
    return event(
        N.VERDICT_ISSUED,
        t,
        actor="system",
        message_id=message_id,
        verdict=decision,
        rule="none",
        score=0.0,
    )


def tip_intent(t: float, amount_minor: int = 500, key: str = "k1") -> Event:
    return event(
        "livefold.tips.TipIntentCreated",
        t,
        actor="ann",
        tip_id="t1",
        amount_minor=amount_minor,
        currency="EUR",
        message=None,
        idempotency_key=key,
    )


def tip_captured(
    t: float, amount_minor: int = 500, key: str = "k1", reference: str | None = "pi_1"
) -> Event:
    return event(
        N.TIP_CAPTURED,
        t,
        actor="system",
        tip_id="t1",
        amount_minor=amount_minor,
        currency="EUR",
        provider_reference=reference,
        idempotency_key=key,
    )


def kinds(outputs: list[object]) -> list[str]:
    return [o.kind for o in outputs if isinstance(o, Notice)]


def test_going_live_notifies_the_streams_followers_once_with_its_title() -> None:
    live = event(N.WENT_LIVE, 5, actor="streamer-1", ingest_id=None)
    states, outputs = run(N, created(), follow("ann"), follow("bob"), live, again(live))
    (notification,) = states["s1"]["notifications"]
    assert notification["kind"] == "stream_live" and notification["audience"] == "followers"
    assert notification["payload"] == {"title": "Speedrun", "streamer": "streamer-1"}
    requested = [o for o in outputs if isinstance(o, Event)]
    assert [r.body["notification_id"] for r in requested] == [notification["notification_id"]]
    assert kinds(outputs) == ["stream_live"]


def test_the_requested_copy_from_the_log_changes_nothing() -> None:
    live = event(N.WENT_LIVE, 5, actor="streamer-1", ingest_id=None)
    states, outputs = run(N, created(), follow("ann"), live)
    (requested,) = [o for o in outputs if isinstance(o, Event)]
    before = facts(states["s1"])
    state, echoed = N.fold(states["s1"], requested)
    assert echoed == [] and facts(state) == before


def test_a_reply_tells_the_replied_to_author_only_once_moderation_allowed_it() -> None:
    states, _ = run(
        N,
        created(),
        message("m1", "ann", 1),
        message("m2", "bob", 2, reply_to="m1"),
        message("m3", "eve", 3, reply_to="m1"),
        verdict("m3", 3.1, "block"),
        verdict("m2", 4),
        message("m4", "ann", 5, reply_to="m1"),  # her own message: nobody to tell
    )
    (reply,) = states["s1"]["notifications"]
    assert reply["kind"] == "chat_reply" and reply["recipient_id"] == "ann"
    assert reply["payload"] == {"from": "bob", "message_id": "m2"}
    assert reply["occurred_at"] == int(at(2).timestamp() * 1000)  # the reply's time


def test_a_tip_captured_tells_the_streamer_with_who_and_how_much() -> None:
    again_captured = tip_captured(3)  # the same capture reported twice: one notification
    states, _ = run(N, created(), tip_intent(1), tip_captured(2), again_captured)
    (tip,) = states["s1"]["notifications"]
    assert tip["recipient_id"] == "streamer-1" and tip["kind"] == "tip_received"
    assert tip["payload"] == {
        "tip_id": "t1",
        "from": "ann",
        "amount_minor": "500",
        "currency": "EUR",
    }


def test_a_scheduled_stream_is_announced_once_when_its_start_is_near() -> None:
    start = at(3600)
    states, _ = run(N, created(scheduled_start=start), follow("ann"))
    state = states["s1"]
    before = facts(state)
    assert N.flush(state, at(60))[1] == []  # an hour ahead: not yet
    _, (soon,) = N.flush(state, at(3000))
    assert soon.body["kind"] == "stream_starting_soon" and soon.body["audience"] == "followers"
    assert N.flush(state, at(3100))[1] == []
    assert facts(state) == before  # flush only asked; the log's copy is what applies it
    state, outputs = N.fold(state, soon)
    assert [n["kind"] for n in state["notifications"]] == ["stream_starting_soon"]
    assert kinds(outputs) == ["stream_starting_soon"]


def test_any_interleaving_of_the_topics_gives_the_same_state() -> None:
    by_topic = [
        [created(0), event(N.WENT_LIVE, 5, actor="streamer-1", ingest_id=None)],
        [
            follow("ann", 1),
            follow("bob", 2),
            event(N.UNFOLLOWED, 6, actor="bob", channel_id="streamer-1"),
        ],
        [message("m1", "ann", 1), message("m2", "bob", 2, reply_to="m1")],
        [verdict("m1", 1.1), verdict("m2", 2.1)],
        [tip_intent(1, 5, "k"), tip_captured(2, 5, "k", reference=None)],
    ]
    digests = set()
    for order in itertools.permutations(range(len(by_topic))):
        events = [e for topic in order for e in by_topic[topic]]
        states, _ = run(N, *events)
        digests.add(digest({"notifications": states}))
    assert len(digests) == 1


HELD_REPLY = [
    message("m1", "ann", 1),
    message("m2", "bob", 2, reply_to="m1"),
    verdict("m2", 2.1, "hold"),
    verdict("m2", 9, "allow"),
]


@pytest.mark.parametrize(
    "order", [[0, 1, 2, 3], [2, 3, 0, 1]], ids=["messages first", "verdicts first"]
)
def test_a_held_reply_is_told_once_a_moderator_allows_it_whatever_came_first(
    order: list[int],
) -> None:
    states, _ = run(N, created(), *(HELD_REPLY[i] for i in order))
    assert [n["kind"] for n in states["s1"]["notifications"]] == ["chat_reply"]


def test_a_held_reply_is_not_told_while_held() -> None:
    states, _ = run(N, created(), *HELD_REPLY[:3])
    assert states["s1"]["notifications"] == []
