from __future__ import annotations

from livefold import reactions
from livefold.folding import facts, fold_all
from streams.events import Event
from tests.fold_events import again, at, event, run, updates

SECOND = int(at(0).timestamp() * 1000)  # T0 is on a whole second


def react(t: float, kind: str = "heart", count: int = 1) -> Event:
    return event(reactions.REACTION_SENT, t, kind=kind, count=count)


def test_a_burst_within_one_second_becomes_one_update_when_the_next_second_starts() -> None:
    burst = [react(i / 1000, "heart") for i in range(1000)]
    _, outputs = run(reactions, *burst, react(1.2, "fire"))
    assert len(outputs) == 1
    window = updates(outputs)[0]
    assert window["window_start"] == SECOND
    assert window["counts"] == {"heart": 1000}
    assert window["totals"] == {"heart": 1000}


def test_thousands_per_second_give_one_update_per_second() -> None:
    burst = [react(t / 2000, "clap") for t in range(10_000)]  # 2000/s for 5 s
    _, outputs = run(reactions, *burst)
    assert [w["window_total"] for w in updates(outputs)] == [2000, 2000, 2000, 2000]


def test_counts_are_kept_per_kind_with_running_totals() -> None:
    _, outputs = run(
        reactions, react(0.1, "heart", 3), react(0.2, "fire", 2), react(1.1, "heart", 5),
        react(2.5, "wow"),
    )  # fmt: skip
    first, second = updates(outputs)
    assert first["counts"] == {"heart": 3, "fire": 2}
    assert second["counts"] == {"heart": 5}
    assert second["totals"] == {"heart": 8, "fire": 2}
    assert second["total"] == 10


def test_flush_publishes_a_window_once_its_second_is_over_and_only_once() -> None:
    states, _ = run(reactions, react(0.1, "heart", 4))
    state = states["s1"]
    before = facts(state)
    assert reactions.flush(state, at(1.1))[1] == []  # stragglers may still come
    _, flushed = reactions.flush(state, at(1.3))
    assert [w["counts"] for w in updates(flushed)] == [{"heart": 4}]
    assert reactions.flush(state, at(5))[1] == []
    assert facts(state) == before


def test_a_window_closed_by_the_next_second_is_not_published_again_by_flush() -> None:
    states, outputs = run(reactions, react(0.1), react(1.1))
    assert len(updates(outputs)) == 1
    assert len(updates(reactions.flush(states["s1"], at(3))[1])) == 1  # the second window only
    assert reactions.flush(states["s1"], at(4))[1] == []


def test_reactions_after_a_flush_in_the_same_second_republish_the_window_corrected() -> None:
    states, _ = run(reactions, react(0.1))
    reactions.flush(states["s1"], at(1.5))
    _, outputs = fold_all(reactions, [react(0.9), react(1.1)], states)
    assert [w["counts"] for w in updates(outputs)] == [{"heart": 2}]


def test_a_late_reaction_counts_in_the_totals_only() -> None:
    states, outputs = run(reactions, react(1.1, "heart"), react(0.5, "fire", 7), react(2.0))
    window = updates(outputs)[0]
    assert window["counts"] == {"heart": 1}
    assert window["totals"] == {"heart": 1, "fire": 7}
    assert states["s1"]["late"] == 7


def test_a_duplicated_reaction_counts_once() -> None:
    burst = react(0.1, "heart", 50)
    states, _ = run(reactions, burst, again(burst), react(0.2, "heart", 1))
    assert states["s1"]["totals"] == {"heart": 51}


def test_streams_are_counted_apart() -> None:
    other = event(reactions.REACTION_SENT, 0.3, stream="s2", kind="heart", count=9)
    states, _ = run(reactions, react(0.1), other)
    assert (states["s1"]["total"], states["s2"]["total"]) == (1, 9)
