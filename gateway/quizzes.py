"""Quizzes: a moderator poses timed questions and reveals answers; viewers answer once per
question; a leaderboard per quiz (a quiz is the series of questions sharing a quiz id).

A quiz starts with its first question at `POST .../quizzes`, which generates the quiz id as a
poll's is; posing a first question under a client-chosen id is deprecated (still accepted).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import not_found
from gateway.reads import Read, ready_gateway, stream_view
from gateway.writes import Who, Write, principal_of

WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/quizzes",
        "livefold.quiz.QuizQuestionPosed",
        "Start a quiz with its first question (quiz_id and question_id come back)",
        Who.MODERATOR,
        generated=("quiz_id", "question_id"),
    ),
    Write(
        "POST",
        "/streams/{stream_id}/quizzes/{quiz_id}/questions",
        "livefold.quiz.QuizQuestionPosed",
        "Pose a question (the correct option stays hidden until the reveal)",
        Who.MODERATOR,
        path_fields=("quiz_id",),
        generated=("question_id",),
    ),
    Write(
        "POST",
        "/streams/{stream_id}/quizzes/{quiz_id}/questions/{question_id}/answers",
        "livefold.quiz.QuizAnswerSubmitted",
        "Answer a question (the first answer counts)",
        Who.ANYONE,
        path_fields=("quiz_id", "question_id"),
        socket_name="quizzes.answer",
    ),
    Write(
        "POST",
        "/streams/{stream_id}/quizzes/{quiz_id}/questions/{question_id}/reveal",
        "livefold.quiz.QuizAnswerRevealed",
        "Reveal the correct option: answers are scored and the leaderboard published",
        Who.MODERATOR,
        path_fields=("quiz_id", "question_id"),
    ),
]


async def list_quiz_views(request: Request) -> Response:
    """The stream's quiz questions and leaderboards, as views (players' own ranks left out)."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    views = gateway.store.views("quiz", stream_id, f"{stream_id}/")
    return JSONResponse({"items": [view for view in views if view.get("kind") != "rank"]})


async def leaderboard(request: Request) -> Response:
    """A quiz's leaderboard, and the caller's own rank when signed in."""
    gateway = ready_gateway(request)
    stream_id, quiz_id = request.path_params["stream_id"], request.path_params["quiz_id"]
    board = gateway.store.view("quiz", f"{stream_id}/{quiz_id}")
    if board is None:
        raise not_found(f"quiz {quiz_id!r} of stream {stream_id!r} (no reveal yet?)")
    mine = None
    if request.headers.get("authorization"):
        user = principal_of(request).user_id
        mine = gateway.store.view("quiz", f"{stream_id}/{quiz_id}/u/{user}")
    return JSONResponse({"leaderboard": board, "mine": mine})


READS = [
    Read("/streams/{stream_id}/quizzes", list_quiz_views, "The stream's quiz questions"),
    Read("/streams/{stream_id}/quizzes/{quiz_id}", leaderboard, "A quiz's leaderboard"),
]
