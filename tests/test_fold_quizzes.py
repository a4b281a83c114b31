from __future__ import annotations

import json

from livefold import quizzes
from livefold.folding import Update, dumps, loads
from streams.events import Event
from tests.fold_events import again, event, last, reasons, run

QUESTION_KEY = "s1/quiz1/q/q1"
BOARD_KEY = "s1/quiz1"


def posed(t: float = 0, question_id: str = "q1", correct: str = "b", points: int = 100) -> Event:
    """A question with a 20 s limit; the default speed bonus is half the points."""
    return event(
        quizzes.QUESTION_POSED,
        t,
        actor="host",
        quiz_id="quiz1",
        question_id=question_id,
        question="Capital of Peru?",
        options=[{"option_id": o, "text": o.upper()} for o in ("a", "b", "c")],
        correct_option=correct,
        points=points,
        time_limit_seconds=20,
    )


def answer(t: float, user: str, option: str, question_id: str = "q1") -> Event:
    return event(
        quizzes.ANSWER_SUBMITTED,
        t,
        actor=user,
        quiz_id="quiz1",
        question_id=question_id,
        option_id=option,
    )


def reveal(t: float, question_id: str = "q1", correct: str = "b") -> Event:
    return event(
        quizzes.ANSWER_REVEALED,
        t,
        actor="host",
        quiz_id="quiz1",
        question_id=question_id,
        correct_option=correct,
    )


def test_a_correct_answer_earns_points_plus_a_speed_bonus_that_shrinks_with_time() -> None:
    states, _ = run(
        quizzes, posed(0), answer(0, "instant", "b"), answer(10, "half", "b"),
        answer(20, "buzzer", "b"), reveal(25),
    )  # fmt: skip
    scores = states["s1"]["quizzes"]["quiz1"]["scores"]
    assert {user: score["points"] for user, score in scores.items()} == {
        "instant": 150,
        "half": 125,
        "buzzer": 100,
    }


def test_a_wrong_answer_earns_nothing() -> None:
    states, _ = run(quizzes, posed(0), answer(1, "ann", "a"), reveal(25))
    assert states["s1"]["quizzes"]["quiz1"]["scores"]["ann"]["points"] == 0


def test_an_answer_after_the_time_limit_is_rejected() -> None:
    _, outputs = run(quizzes, posed(0), answer(20.001, "ann", "b"))
    assert reasons(outputs) == ["too late: the time limit was 20 s, the answer came after 20001 ms"]


def test_a_second_answer_is_rejected() -> None:
    states, outputs = run(quizzes, posed(0), answer(1, "ann", "a"), answer(2, "ann", "b"))
    assert reasons(outputs) == ["only the first answer to a question counts"]
    run_on = quizzes.fold(states["s1"], reveal(25))[1]
    assert last(run_on, BOARD_KEY)["top"][0]["points"] == 0  # the first (wrong) answer stood


def test_a_duplicated_answer_is_ignored_without_a_rejection() -> None:
    first = answer(1, "ann", "b")
    _, outputs = run(quizzes, posed(0), first, again(first))
    assert reasons(outputs) == []
    assert last(outputs, QUESTION_KEY)["answers"] == 1


def test_an_answer_after_the_reveal_is_rejected() -> None:
    _, outputs = run(quizzes, posed(0), reveal(5), answer(6, "ann", "b"))
    assert reasons(outputs) == ["the answer was already revealed"]


def test_an_answer_to_an_unknown_question_is_rejected() -> None:
    _, outputs = run(quizzes, answer(1, "ann", "b"))
    assert reasons(outputs) == ["no question q1 in quiz quiz1 of this stream"]


def test_nothing_published_before_the_reveal_tells_the_correct_option() -> None:
    _, outputs = run(quizzes, posed(0, correct="c"), answer(1, "ann", "c"))
    before = [o.value for o in outputs if isinstance(o, Update)]
    assert before
    assert all(view["correct_option"] is None and view["counts"] is None for view in before)
    assert all("correct" not in json.dumps(view["options"]) for view in before)
    _, after = run(quizzes, posed(0, correct="c"), reveal(25, correct="c"))
    assert last(after, QUESTION_KEY)["correct_option"] == "c"


def test_the_leaderboard_shows_the_top_players_and_each_player_gets_their_own_rank() -> None:
    events = [posed(0)]
    events += [answer(1 + i, f"user{i:02}", "b") for i in range(15)]  # earlier answers score more
    events += [answer(2, "wrong", "a"), reveal(25)]
    _, outputs = run(quizzes, *events)
    board = last(outputs, BOARD_KEY)
    assert board["players"] == 16
    assert len(board["top"]) == quizzes.LEADERBOARD_SIZE
    assert [entry["user"] for entry in board["top"][:3]] == ["user00", "user01", "user02"]
    assert [entry["rank"] for entry in board["top"]] == list(range(1, 11))
    assert last(outputs, "s1/quiz1/u/wrong")["rank"] == 16
    assert last(outputs, "s1/quiz1/u/user14")["rank"] == 15


def test_equal_points_are_ranked_by_faster_total_answering_time_then_user_id() -> None:
    # one point leaves no room for a speed bonus, so all three score the same
    events = [posed(0, points=1), answer(15, "slow", "b"), answer(5, "fast", "b")]
    _, outputs = run(quizzes, *events, answer(15, "also-slow", "b"), reveal(25))
    top = last(outputs, BOARD_KEY)["top"]
    assert [(e["user"], e["points"]) for e in top] == [("fast", 1), ("also-slow", 1), ("slow", 1)]


def test_only_changed_ranks_are_published_again() -> None:
    events = [posed(0, "q1"), answer(1, "ann", "b", "q1"), answer(2, "bob", "a", "q1")]
    events += [reveal(25, "q1"), posed(30, "q2"), answer(31, "ann", "a", "q2"), reveal(55, "q2")]
    _, outputs = run(quizzes, *events)
    ranks = [o.key for o in outputs if isinstance(o, Update) and "/u/" in o.key]
    assert ranks == ["s1/quiz1/u/ann", "s1/quiz1/u/bob"]  # nothing changed at the second reveal


def test_a_quiz_state_survives_a_json_round_trip_exactly() -> None:
    states, _ = run(quizzes, posed(0), answer(1, "ann", "b"), reveal(25), posed(30, "q2"))
    assert loads(dumps(states["s1"])) == states["s1"]
