from __future__ import annotations

from livefold import audience
from livefold.folding import Notice, dumps, facts, fold_all, loads
from streams.events import Event
from tests.fold_events import again, at, event, last, run


def joined(
    t: float, viewer: str, session: str = "", device: str = "phone", timeout_ms: int | None = None
) -> Event:
    return event(
        audience.VIEWER_JOINED,
        t,
        actor=viewer,
        viewer_id=viewer,
        session_id=session or f"{viewer}-1",
        device=device,
        country="DE",
        timeout_ms=timeout_ms,
    )


def heartbeat(t: float, viewer: str, session: str = "", timeout_ms: int | None = None) -> Event:
    session_id = session or f"{viewer}-1"
    return event(
        audience.VIEWER_HEARTBEAT,
        t,
        actor=viewer,
        viewer_id=viewer,
        session_id=session_id,
        timeout_ms=timeout_ms,
    )


def left(t: float, viewer: str, session: str = "") -> Event:
    session_id = session or f"{viewer}-1"
    return event(audience.VIEWER_LEFT, t, actor=viewer, viewer_id=viewer, session_id=session_id)


def test_joins_and_leaves_count_concurrent_viewers_and_the_peak_stays() -> None:
    _, outputs = run(audience, joined(0, "ann"), joined(1, "bob"), joined(2, "cy"), left(3, "bob"))
    view = last(outputs)
    assert (view["viewers"], view["peak_viewers"]) == (2, 3)


def test_a_viewer_watching_in_two_tabs_counts_once() -> None:
    _, outputs = run(audience, joined(0, "ann", "tab1"), joined(1, "ann", "tab2"))
    assert last(outputs)["viewers"] == 1
    assert last(outputs)["sessions"] == 2


def test_a_viewer_with_no_heartbeat_for_60_s_is_no_longer_counted() -> None:
    events = [joined(0, "ann"), joined(0, "bob"), heartbeat(30, "bob")]
    _, outputs = run(audience, *events, heartbeat(59.9, "bob"))
    assert last(outputs)["viewers"] == 2  # ann has been silent for 59.9 s: still counted
    _, outputs = run(audience, *events, heartbeat(60, "bob"))
    assert last(outputs)["viewers"] == 1


def test_a_session_ends_after_the_silence_its_sender_declared() -> None:
    """A gateway beating every 1 s declares 2 s: its sessions end 2 s after its last word
    (it died), once another gateway's heartbeats move the stream's clock."""
    events = [joined(0, "ann", timeout_ms=2_000), joined(0, "bob", timeout_ms=2_000)]
    events += [heartbeat(1, "ann", timeout_ms=2_000), heartbeat(1, "bob", timeout_ms=2_000)]
    _, outputs = run(audience, *events, heartbeat(2.9, "bob", timeout_ms=2_000))
    assert last(outputs)["viewers"] == 2
    _, outputs = run(audience, *events, heartbeat(3, "bob", timeout_ms=2_000))
    assert last(outputs)["viewers"] == 1
    assert last(outputs)["peak_viewers"] == 2


def test_heartbeats_keep_a_viewer_counted() -> None:
    beats = [heartbeat(20 * i, "ann") for i in range(1, 10)]
    states, _ = run(audience, joined(0, "ann"), *beats, joined(200, "bob"))
    assert audience.view(states["s1"])["viewers"] == 2


def test_a_silent_viewer_who_comes_back_counts_again_from_a_new_start() -> None:
    events = [joined(0, "ann"), joined(70, "bob"), heartbeat(80, "ann"), heartbeat(90, "ann")]
    states, _ = run(audience, *events)
    view = audience.view(states["s1"])
    assert view["viewers"] == 2
    assert view["watch_ms"] == 10_000  # from ann's return at 80 s: her silence is not watch time


def test_unique_viewers_count_each_viewer_once() -> None:
    events = [joined(0, "ann"), left(10, "ann"), joined(20, "ann", "ann-2"), joined(21, "bob")]
    states, _ = run(audience, *events)
    assert audience.view(states["s1"])["unique_viewers"] == 2


def test_watch_time_runs_from_join_to_the_last_sign_of_life() -> None:
    events = [joined(0, "ann"), heartbeat(20, "ann"), left(25, "ann")]
    events += [joined(0, "bob"), heartbeat(20, "bob"), joined(200, "cy")]  # bob went silent
    states, _ = run(audience, *events)
    assert audience.view(states["s1"])["watch_ms"] == 25_000 + 20_000


def test_the_device_mix_counts_sessions_by_device() -> None:
    events = [joined(0, "ann", device="phone"), joined(1, "bob", device="tv")]
    _, outputs = run(audience, *events, joined(2, "cy", device="phone"), left(3, "bob"))
    view = last(outputs)
    assert view["devices"] == {"phone": 2, "tv": 1}
    assert view["devices_now"] == {"phone": 2}


def test_a_duplicated_join_counts_once() -> None:
    first = joined(0, "ann")
    states, _ = run(audience, first, again(first))
    assert audience.view(states["s1"])["sessions"] == 1


def test_a_quiet_audience_shows_no_viewers_once_their_heartbeats_are_overdue() -> None:
    states, _ = run(audience, joined(0, "ann"), joined(10, "bob"))
    state = states["s1"]
    before = facts(state)
    assert audience.flush(state, at(30))[1] == []  # nothing new to say
    _, flushed = audience.flush(state, at(65))
    assert last(flushed)["viewers"] == 1
    assert audience.flush(state, at(66))[1] == []
    assert last(audience.flush(state, at(71))[1])["viewers"] == 0
    assert facts(state) == before  # only the next event ends those sessions


def test_follows_made_during_the_stream_are_counted() -> None:
    def follow(type_: str, t: float, user: str) -> Event:
        return event(type_, t, actor=user, channel_id="host")

    events = [follow(audience.FOLLOWED, 1, "ann"), follow(audience.FOLLOWED, 2, "bob")]
    _, outputs = run(audience, *events, follow(audience.UNFOLLOWED, 3, "ann"))
    assert last(outputs)["new_followers"] == 1


def test_each_follow_during_the_stream_names_its_follower_once() -> None:
    def follow(t: float, user: str) -> Event:
        return event(audience.FOLLOWED, t, actor=user, channel_id="host")

    _, outputs = run(audience, follow(1, "ann"), follow(2, "bob"), follow(3, "ann"))
    told = [o.value["follower"] for o in outputs if isinstance(o, Notice) and o.kind == "followed"]
    assert told == ["ann", "bob"]


def test_an_audience_state_survives_a_json_round_trip_and_folds_on_identically() -> None:
    states, _ = run(audience, joined(0, "ann"), joined(1, "bob", device="tv"), heartbeat(20, "ann"))
    stored = loads(dumps(states["s1"]))
    assert stored == states["s1"]
    later = [heartbeat(40, "ann"), joined(90, "cy")]
    fold_all(audience, later, {"s1": stored})
    fold_all(audience, later, states)
    assert stored == states["s1"]
