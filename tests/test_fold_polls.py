from __future__ import annotations

from typing import Any

from livefold import polls
from livefold.folding import Update, dumps, facts, fold_all, loads
from streams.events import Event
from tests.fold_events import again, at, event, last, reasons, resent, run

KEY = "s1/p1"


def poll(*, multi: bool = False, change: bool = True, duration: int = 60) -> list[Event]:
    """A poll created at T0 and opened at T0 + 1 s; it closes at T0 + 1 s + duration."""
    options = [{"option_id": o, "text": o.upper()} for o in ("a", "b", "c")]
    return [
        event(
            polls.POLL_CREATED,
            0,
            actor="host",
            poll_id="p1",
            question="Next map?",
            options=options,
            multi_select=multi,
            allow_vote_change=change,
            duration_seconds=duration,
        ),
        event(polls.POLL_OPENED, 1, actor="host", poll_id="p1"),
    ]


def vote(t: float, voter: str, *options: str, stream: str = "s1") -> Event:
    return event(
        polls.VOTE_CAST, t, actor=voter, stream=stream, poll_id="p1", option_ids=list(options)
    )


def close(t: float) -> Event:
    return event(polls.POLL_CLOSED, t, actor="host", poll_id="p1", reason="closed_by_host")


def tally(view: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {o["option_id"]: (o["votes"], o["percent"]) for o in view["options"]}


def test_votes_are_tallied_with_percentages() -> None:
    _, outputs = run(polls, *poll(), vote(2, "ann", "a"), vote(3, "bob", "a"), vote(4, "cy", "b"))
    view = last(outputs, KEY)
    assert view["status"] == "open"
    assert view["voters"] == 3
    assert tally(view) == {"a": (2, 66.7), "b": (1, 33.3), "c": (0, 0.0)}


def test_a_re_vote_replaces_the_earlier_choice() -> None:
    states, outputs = run(polls, *poll(), vote(2, "ann", "a"), vote(3, "ann", "c"))
    assert tally(last(outputs, KEY)) == {"a": (0, 0.0), "b": (0, 0.0), "c": (1, 100.0)}
    assert states[KEY]["votes"] == {"ann": ["c"]}


def test_a_poll_that_forbids_changes_rejects_a_second_vote_with_a_reason() -> None:
    _, outputs = run(polls, *poll(change=False), vote(2, "ann", "a"), vote(3, "ann", "b"))
    assert reasons(outputs) == ["this poll does not allow changing a vote"]
    assert tally(last(outputs, KEY))["a"] == (1, 100.0)


def test_voting_the_same_choice_again_changes_nothing() -> None:
    _, outputs = run(polls, *poll(change=False), vote(2, "ann", "a"), vote(3, "ann", "a"))
    assert reasons(outputs) == []
    assert last(outputs, KEY)["voters"] == 1


def test_a_duplicated_vote_counts_once() -> None:
    ballot = vote(2, "ann", "a")
    _, outputs = run(polls, *poll(change=False), ballot, again(ballot), vote(3, "bob", "a"))
    assert reasons(outputs) == []
    assert tally(last(outputs, KEY))["a"] == (2, 100.0)


def test_multi_select_takes_several_options_where_allowed() -> None:
    _, outputs = run(polls, *poll(multi=True), vote(2, "ann", "a", "b"), vote(3, "bob", "b"))
    view = last(outputs, KEY)
    assert view["voters"] == 2
    assert tally(view) == {"a": (1, 50.0), "b": (2, 100.0), "c": (0, 0.0)}


def test_a_single_choice_poll_rejects_several_options() -> None:
    _, outputs = run(polls, *poll(), vote(2, "ann", "a", "b"))
    assert reasons(outputs) == ["this poll takes exactly one option"]


def test_an_unknown_option_is_rejected() -> None:
    _, outputs = run(polls, *poll(), vote(2, "ann", "zz"))
    assert reasons(outputs) == ["not an option of this poll: zz"]


def test_a_vote_before_the_poll_opens_is_rejected_with_a_reason() -> None:
    created, _ = poll()
    _, outputs = run(polls, created, vote(0.5, "ann", "a"))
    assert reasons(outputs) == ["the poll is not open yet"]


def test_a_vote_for_a_poll_that_does_not_exist_is_rejected() -> None:
    _, outputs = run(polls, vote(2, "ann", "a"))
    assert reasons(outputs) == ["there is no poll p1 in this stream"]


def test_a_vote_after_close_is_rejected_with_a_reason() -> None:
    _, outputs = run(polls, *poll(), vote(2, "ann", "a"), close(5), vote(6, "bob", "b"))
    assert reasons(outputs) == ["the poll is closed"]
    final = last(outputs, KEY)
    assert (final["status"], final["close_reason"], final["closed_at"]) == (
        "closed",
        "closed_by_host",
        5000 + int(at(0).timestamp() * 1000),
    )
    assert tally(final)["b"] == (0, 0.0)


def test_closing_publishes_the_final_result_at_once() -> None:
    _, outputs = run(polls, *poll(), vote(2, "ann", "a"), close(5))
    closing = [o for o in outputs if isinstance(o, Update)][-1]
    assert closing.urgent and closing.value["status"] == "closed"


def test_a_vote_after_the_duration_is_rejected_and_the_poll_closes_with_its_final_result() -> None:
    _, outputs = run(polls, *poll(duration=60), vote(2, "ann", "a"), vote(61, "bob", "b"))
    assert reasons(outputs) == ["the poll closed before this vote"]
    final = [o for o in outputs if isinstance(o, Update)][-1]
    assert final.urgent
    assert final.value["status"] == "closed" and final.value["close_reason"] == "expired"
    assert final.value["closed_at"] == final.value["closes_at"]
    assert tally(final.value) == {"a": (1, 100.0), "b": (0, 0.0), "c": (0, 0.0)}


def test_final_results_are_immutable_after_close() -> None:
    states, _ = run(polls, *poll(), vote(2, "ann", "a"), close(5))
    closed = facts(states[KEY])
    _, more = fold_all(polls, [close(6), vote(7, "ann", "b"), poll()[1]], states)
    assert facts(states[KEY]) == closed
    assert [o for o in more if isinstance(o, Update)] == []
    assert reasons(more) == ["the poll is closed", "the poll is closed"]


def test_flush_publishes_the_final_result_once_the_deadline_has_passed() -> None:
    states, _ = run(polls, *poll(duration=60), vote(2, "ann", "a"))
    state = states[KEY]
    before = facts(state)
    assert polls.flush(state, at(61.2))[1] == []  # deadline at 61 s, still within the grace
    _, flushed = polls.flush(state, at(62))
    assert len(flushed) == 1 and isinstance(flushed[0], Update) and flushed[0].urgent
    assert flushed[0].value["status"] == "closed"
    assert polls.flush(state, at(63))[1] == []
    assert facts(state) == before  # flushing publishes; it never changes what was folded


def test_a_vote_stamped_before_the_deadline_counts_even_if_it_arrives_late() -> None:
    states, _ = run(polls, *poll(duration=60), vote(2, "ann", "a"))
    polls.flush(states[KEY], at(65))
    _, outputs = fold_all(polls, [vote(60.5, "bob", "b")], states)
    assert reasons(outputs) == []
    view = last(outputs, KEY)
    assert view["status"] == "closed" and view["voters"] == 2


def test_polls_of_different_streams_never_mix() -> None:
    other = [
        Event(e.type, {**e.body, "stream_id": "s2", "event_id": f"{e.event_id}-2"}) for e in poll()
    ]
    states, _ = run(polls, *poll(), *other, vote(2, "ann", "a"), vote(2, "bob", "b", stream="s2"))
    assert states["s1/p1"]["votes"] == {"ann": ["a"]}
    assert states["s2/p1"]["votes"] == {"bob": ["b"]}


def test_a_poll_cannot_be_created_twice() -> None:
    created, _ = poll()
    _, outputs = run(polls, created, resent(created, question="Other?"))
    assert reasons(outputs) == ["poll p1 already exists"]


def test_a_poll_state_survives_a_json_round_trip_exactly() -> None:
    states, _ = run(polls, *poll(multi=True), vote(2, "ann", "a", "c"), vote(3, "bob", "b"))
    stored = loads(dumps(states[KEY]))
    assert stored == states[KEY]
    assert dumps(stored) == dumps(states[KEY])
    _, outputs = polls.fold(stored, vote(4, "cy", "c"))
    assert tally(last(outputs, KEY))["c"] == (2, 66.7)


def test_a_malformed_vote_is_rejected_with_a_clear_reason_and_changes_nothing() -> None:
    states, _ = run(polls, *poll(), vote(2, "ann", "a"))
    before = facts(states[KEY])
    broken = vote(3, "bob", "b")
    del broken.body["option_ids"]
    _, outputs = polls.fold(states[KEY], broken)
    assert reasons(outputs) == ["malformed livefold.polls.VoteCast: KeyError('option_ids')"]
    assert facts(states[KEY]) == before


def test_an_event_of_another_domain_is_rejected_not_folded() -> None:
    stray = event("livefold.reactions.ReactionSent", 1, kind="heart", count=1)
    _, outputs = polls.fold(None, stray)
    assert reasons(outputs) == ["the polls fold does not take livefold.reactions.ReactionSent"]
