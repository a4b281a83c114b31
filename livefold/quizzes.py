"""Quizzes per stream: timed questions, one answer per viewer per question, points and a
leaderboard per quiz (a quiz is a series of questions sharing one leaderboard).

An answer counts if it comes after the question was posed, within its time limit, before the
reveal, and is the viewer's first for that question; otherwise it is rejected with the reason.
Answers are scored at the reveal (with the revealed correct option): a correct one earns the
question's points plus a speed bonus that falls linearly from `speed_bonus_percent` of the
points for an instant answer to nothing at the time limit. Until the reveal, nothing published
tells which option is correct.

At each reveal the leaderboard (top `LEADERBOARD_SIZE`) is published, and each player's own
rank (keyed "<stream>/<quiz>/<user>") for players whose rank or points changed. Ranking: more
points first, then less total answering time on correct answers, then user id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Output, Refused, Update, apply
from streams.events import Event

CHANNEL = "quiz"
QUESTION_POSED = "livefold.quiz.QuizQuestionPosed"
ANSWER_SUBMITTED = "livefold.quiz.QuizAnswerSubmitted"
ANSWER_REVEALED = "livefold.quiz.QuizAnswerRevealed"
HANDLES = frozenset({QUESTION_POSED, ANSWER_SUBMITTED, ANSWER_REVEALED})
FLUSH_EVERY: float | None = None

LEADERBOARD_SIZE = 10
# Used when the question does not say (the schema may grow a `speed_bonus_percent` field).
SPEED_BONUS_PERCENT = 50


class Option(TypedDict):
    option_id: str
    text: str


class Answer(TypedDict):
    option_id: str
    elapsed_ms: int


class Question(TypedDict):
    question_id: str
    question: str
    options: list[Option]
    correct_option: str
    points: int
    speed_bonus_percent: int
    time_limit_ms: int
    posed_at: int
    revealed_at: int | None
    answers: dict[str, Answer]  # user -> answer, until the reveal scores them
    counts: dict[str, int]  # option id -> answers


class Score(TypedDict):
    points: int
    correct: int
    time_ms: int  # answering time summed over correct answers


class Quiz(TypedDict):
    quiz_id: str
    questions: dict[str, Question]
    scores: dict[str, Score]


class QuizState(TypedDict):
    stream_id: str
    quizzes: dict[str, Quiz]
    _seen: dict[str, None]
    _ranks: dict[str, dict[str, list[int]]]  # quiz -> user -> [rank, points] last published


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: QuizState | None, event: Event) -> tuple[QuizState, list[Output]]:
    if state is None:
        state = QuizState(stream_id=event.stream_id, quizzes={}, _seen={}, _ranks={})
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: QuizState, now: datetime) -> tuple[QuizState, list[Output]]:
    return state, []


def points_for(question: Question, answer: Answer, correct_option: str) -> int:
    if answer["option_id"] != correct_option:
        return 0
    limit = question["time_limit_ms"]
    remaining = max(0, limit - answer["elapsed_ms"])
    bonus = question["points"] * question["speed_bonus_percent"] * remaining // (100 * limit)
    return question["points"] + bonus


def standings(quiz: Quiz) -> list[tuple[str, Score]]:
    return sorted(
        quiz["scores"].items(),
        key=lambda item: (-item[1]["points"], item[1]["time_ms"], item[0]),
    )


def question_view(state: QuizState, quiz_id: str, question: Question) -> dict[str, Any]:
    revealed = question["revealed_at"] is not None
    return {
        "kind": "question",
        "stream_id": state["stream_id"],
        "quiz_id": quiz_id,
        "question_id": question["question_id"],
        "question": question["question"],
        "options": [dict(option) for option in question["options"]],
        "points": question["points"],
        "posed_at": question["posed_at"],
        "closes_at": question["posed_at"] + question["time_limit_ms"],
        "answers": sum(question["counts"].values()),
        "revealed": revealed,
        "correct_option": question["correct_option"] if revealed else None,
        "counts": dict(question["counts"]) if revealed else None,
    }


def _on_posed(state: QuizState, event: Event) -> list[Output]:
    body = event.body
    quiz_id: str = body["quiz_id"]
    question_id: str = body["question_id"]
    quiz = state["quizzes"].get(quiz_id)
    if quiz is not None and question_id in quiz["questions"]:
        raise Refused(f"question {question_id} of quiz {quiz_id} was already posed")
    options = [Option(option_id=o["option_id"], text=o["text"]) for o in body["options"]]
    option_ids = [option["option_id"] for option in options]
    if len(set(option_ids)) != len(option_ids) or body["correct_option"] not in option_ids:
        raise Refused("options need unique ids and the correct option must be one of them")
    question = Question(
        question_id=question_id,
        question=body["question"],
        options=options,
        correct_option=body["correct_option"],
        points=int(body["points"]),
        speed_bonus_percent=int(body.get("speed_bonus_percent", SPEED_BONUS_PERCENT)),
        time_limit_ms=int(body["time_limit_seconds"]) * 1000,
        posed_at=event.occurred_at_ms,
        revealed_at=None,
        answers={},
        counts=dict.fromkeys(option_ids, 0),
    )
    if question["time_limit_ms"] <= 0:
        raise Refused("the time limit must be positive")
    if quiz is None:
        quiz = state["quizzes"][quiz_id] = Quiz(quiz_id=quiz_id, questions={}, scores={})
    quiz["questions"][question_id] = question
    return [_question_update(state, quiz_id, question)]


def _on_answer(state: QuizState, event: Event) -> list[Output]:
    body = event.body
    quiz_id: str = body["quiz_id"]
    question = _question(state, quiz_id, body["question_id"])
    user = event.actor_id
    elapsed = event.occurred_at_ms - question["posed_at"]
    if question["revealed_at"] is not None:
        raise Refused("the answer was already revealed")
    if elapsed < 0:
        raise Refused("the answer came before the question was posed")
    if elapsed > question["time_limit_ms"]:
        limit = question["time_limit_ms"] // 1000
        raise Refused(f"too late: the time limit was {limit} s, the answer came after {elapsed} ms")
    if user in question["answers"]:
        raise Refused("only the first answer to a question counts")
    option_id: str = body["option_id"]
    if option_id not in question["counts"]:
        raise Refused(f"{option_id!r} is not an option of this question")
    question["answers"][user] = Answer(option_id=option_id, elapsed_ms=elapsed)
    question["counts"][option_id] += 1
    return [_question_update(state, quiz_id, question)]


def _on_revealed(state: QuizState, event: Event) -> list[Output]:
    body = event.body
    quiz_id: str = body["quiz_id"]
    question = _question(state, quiz_id, body["question_id"])
    if question["revealed_at"] is not None:
        return []
    correct: str = body["correct_option"]
    if correct not in question["counts"]:
        raise Refused(f"{correct!r} is not an option of this question")
    question["correct_option"] = correct
    question["revealed_at"] = event.occurred_at_ms
    scores = state["quizzes"][quiz_id]["scores"]
    for user, answer in question["answers"].items():
        score = scores.setdefault(user, Score(points=0, correct=0, time_ms=0))
        earned = points_for(question, answer, correct)
        if earned:
            score["points"] += earned
            score["correct"] += 1
            score["time_ms"] += answer["elapsed_ms"]
    question["answers"] = {}  # scored: the counts keep what the result shows
    return [_question_update(state, quiz_id, question, urgent=True), *_rank_updates(state, quiz_id)]


def _question(state: QuizState, quiz_id: str, question_id: str) -> Question:
    quiz = state["quizzes"].get(quiz_id)
    question = None if quiz is None else quiz["questions"].get(question_id)
    if question is None:
        raise Refused(f"no question {question_id} in quiz {quiz_id} of this stream")
    return question


def _question_update(
    state: QuizState, quiz_id: str, question: Question, urgent: bool = False
) -> Update:
    key = f"{state['stream_id']}/{quiz_id}/q/{question['question_id']}"
    return Update(CHANNEL, key, question_view(state, quiz_id, question), urgent)


def _rank_updates(state: QuizState, quiz_id: str) -> list[Output]:
    stream_id = state["stream_id"]
    ranked = standings(state["quizzes"][quiz_id])
    top = [
        {"rank": rank, "user": user, "points": score["points"], "correct": score["correct"]}
        for rank, (user, score) in enumerate(ranked[:LEADERBOARD_SIZE], start=1)
    ]
    board = {
        "kind": "leaderboard",
        "stream_id": stream_id,
        "quiz_id": quiz_id,
        "players": len(ranked),
        "top": top,
    }
    outputs: list[Output] = [Update(CHANNEL, f"{stream_id}/{quiz_id}", board, urgent=True)]
    published = state["_ranks"].setdefault(quiz_id, {})
    for rank, (user, score) in enumerate(ranked, start=1):
        mine = [rank, score["points"]]
        if published.get(user) == mine:
            continue
        published[user] = mine
        value = {
            "kind": "rank",
            "stream_id": stream_id,
            "quiz_id": quiz_id,
            "user": user,
            "rank": rank,
            "points": score["points"],
            "correct": score["correct"],
        }
        outputs.append(Update(CHANNEL, f"{stream_id}/{quiz_id}/u/{user}", value))
    return outputs


_HANDLERS = {
    QUESTION_POSED: _on_posed,
    ANSWER_SUBMITTED: _on_answer,
    ANSWER_REVEALED: _on_revealed,
}
