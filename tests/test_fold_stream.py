from __future__ import annotations

from typing import Any

from livefold import audience, stream, tips
from livefold.folding import Update, digest, dumps, facts, loads
from streams.events import Event
from tests.fold_events import at, event, last, reasons, resent, run


def created(t: float = 0) -> Event:
    return event(
        stream.CREATED,
        t,
        actor="host",
        title="Speedrun night",
        category="games",
        tags=["speedrun"],
        scheduled_start=at(60),
    )


def lifecycle(kind: str, t: float) -> Event:
    if kind == stream.ENDED:
        return event(kind, t, actor="host", reason="streamer_ended")
    return event(kind, t, actor="host")


def modes(t: float, slow: int, *, via_settings: bool = False) -> Event:
    chat_modes: dict[str, Any] = {
        "slow_seconds": slow,
        "emote_only": False,
        "subscribers_only": False,
    }
    if via_settings:
        return event(stream.SETTINGS_CHANGED, t, actor="host", chat_modes=chat_modes)
    return event(stream.CHAT_MODE_CHANGED, t, actor="mod", **chat_modes)


def message(t: float, n: int) -> Event:
    return event(stream.MESSAGE_SENT, t, actor="ann", message_id=f"m{n}", text="hi")


def test_a_stream_goes_from_scheduled_to_live_to_ended() -> None:
    _, outputs = run(stream, created(0))
    assert last(outputs)["status"] == "scheduled"
    _, outputs = run(stream, created(0), lifecycle(stream.WENT_LIVE, 60))
    assert last(outputs)["status"] == "live"
    _, outputs = run(
        stream, created(0), lifecycle(stream.WENT_LIVE, 60), lifecycle(stream.ENDED, 90)
    )
    view = last(outputs)
    assert (view["status"], view["end_reason"]) == ("ended", "streamer_ended")


def test_an_ended_stream_does_not_go_live_again() -> None:
    events = [created(0), lifecycle(stream.WENT_LIVE, 1), lifecycle(stream.ENDED, 2)]
    _, outputs = run(stream, *events, lifecycle(stream.WENT_LIVE, 3), lifecycle(stream.ENDED, 4))
    assert reasons(outputs) == [
        "a stream that is ended cannot go live",
        "a stream that is ended cannot end",
    ]


def test_a_stream_never_created_cannot_go_live_and_cannot_be_created_twice() -> None:
    _, outputs = run(stream, lifecycle(stream.WENT_LIVE, 1))
    assert reasons(outputs) == ["a stream that is unknown cannot go live"]
    first = created(0)
    _, outputs = run(stream, first, resent(first))
    assert reasons(outputs) == ["stream s1 was already created"]


def test_settings_change_only_what_they_name() -> None:
    retitled = event(stream.SETTINGS_CHANGED, 5, actor="host", title="New title", language="de")
    _, outputs = run(stream, created(0), retitled)
    view = last(outputs)
    assert (view["title"], view["language"], view["category"]) == ("New title", "de", "games")


def test_the_later_chat_modes_win_whichever_topic_is_read_first() -> None:
    from_settings = modes(10, 30, via_settings=True)
    from_moderation = modes(20, 5)
    one, _ = run(stream, created(0), from_settings, from_moderation)
    other, _ = run(stream, created(0), from_moderation, from_settings)
    assert one["s1"]["chat_modes"]["slow_seconds"] == 5
    assert digest({"stream": one}) == digest({"stream": other})


def test_viewers_and_peak_viewers_come_from_the_audience() -> None:
    def join(t: float, viewer: str) -> Event:
        return event(
            audience.VIEWER_JOINED,
            t,
            actor=viewer,
            viewer_id=viewer,
            session_id=viewer,
            device="tv",
        )

    left = event(audience.VIEWER_LEFT, 3, actor="bob", viewer_id="bob", session_id="bob")
    states, _ = run(stream, created(0), join(1, "ann"), join(2, "bob"), left)
    view = stream.view(states["s1"])
    assert (view["viewers"], view["peak_viewers"]) == (1, 2)


def test_the_chat_rate_counts_the_messages_of_the_last_minute() -> None:
    events = [message(i, i) for i in range(90)]  # one a second for 90 s
    states, _ = run(stream, created(0), *events)
    view = stream.view(states["s1"])
    assert (view["chat_per_minute"], view["chat_messages"]) == (60, 90)
    assert stream.view(states["s1"], now=int(at(119.5).timestamp() * 1000))["chat_per_minute"] == 30


def test_reactions_are_totalled_with_hearts_as_likes() -> None:
    def react(t: float, kind: str, count: int) -> Event:
        return event(stream.REACTION_SENT, t, kind=kind, count=count)

    states, _ = run(stream, react(1, "heart", 10), react(1.5, "fire", 3), react(2, "heart", 2))
    view = stream.view(states["s1"])
    assert (view["likes"], view["reactions_total"], view["reactions"]["fire"]) == (12, 15, 3)


def test_tips_are_totalled_and_the_same_idempotency_key_counts_once() -> None:
    intent = event(
        tips.TIP_INTENT_CREATED, 0, actor="ann", tip_id="t1", amount_minor=500, currency="EUR",
        idempotency_key="k1", message=None,
    )  # fmt: skip
    capture = event(
        tips.TIP_CAPTURED, 1, actor="payments", tip_id="t1", amount_minor=500, currency="EUR",
        idempotency_key="k1",
    )  # fmt: skip
    refund = event(
        tips.TIP_REFUNDED, 2, actor="payments", tip_id="t1", amount_minor=100, currency="EUR",
        idempotency_key="k1",
    )  # fmt: skip
    states, outputs = run(stream, intent, capture, resent(capture), refund)
    assert reasons(outputs) == []  # the tips fold is the one that explains the refusal
    assert (stream.view(states["s1"])["tips"], stream.view(states["s1"])["tips_count"]) == (
        {"EUR": 400},
        1,
    )


def test_a_capture_unlike_its_intent_never_reaches_the_stream_totals() -> None:
    intent = event(
        tips.TIP_INTENT_CREATED, 0, actor="ann", tip_id="t1", amount_minor=100, currency="EUR",
        idempotency_key="k1", message=None,
    )  # fmt: skip
    inflated = event(
        tips.TIP_CAPTURED, 1, actor="payments", tip_id="t1", amount_minor=100_000_000,
        currency="EUR", idempotency_key="k1",
    )  # fmt: skip
    unknown = event(
        tips.TIP_CAPTURED, 1, actor="payments", tip_id="t9", amount_minor=100, currency="EUR",
        idempotency_key="k9",
    )  # fmt: skip
    states, _ = run(stream, intent, inflated, unknown)
    assert stream.view(states["s1"])["tips"] == {}


def test_chat_bursts_are_published_at_most_once_per_second_and_flush_sends_the_rest() -> None:
    burst = [message(10 + i / 100, i) for i in range(100)]  # 100 messages within one second
    states, outputs = run(stream, created(0), *burst)
    published = [o.value["chat_messages"] for o in outputs if isinstance(o, Update)]
    assert published == [0, 1]
    _, flushed = stream.flush(states["s1"], at(11))
    assert last(flushed)["chat_messages"] == 100
    assert stream.flush(states["s1"], at(12))[1] == []


def test_flushing_never_changes_the_stream_state() -> None:
    states, _ = run(stream, created(0), *[message(i, i) for i in range(5)])
    before = facts(states["s1"])
    stream.flush(states["s1"], at(500))
    assert facts(states["s1"]) == before


def test_a_stream_state_survives_a_json_round_trip_exactly() -> None:
    states, _ = run(stream, created(0), lifecycle(stream.WENT_LIVE, 1), message(2, 1), modes(3, 5))
    assert loads(dumps(states["s1"])) == states["s1"]
