"""Writes over a subscription's socket (`Subscription.send`): the gateway's `send` frame, and
the writes still waiting for their answer, by frame id.

The frame id is the write's Idempotency-Key: a write whose connection dropped before its answer
is sent again, with the same id, once the subscription is back, and makes the same event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from livefold_sdk.errors import ApiError, SubscriptionClosed, api_error
from livefold_sdk.transport import Accepted

# What the gateway takes over the socket (the interactive hot path); other writes are REST.
WRITES = ("chat.send", "reactions.send", "polls.vote", "quizzes.answer")


def write_frame(ref: str, write: str, stream_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"op": "send", "id": ref, "write": write, "stream": stream_id, "body": dict(body)}


def answer_of(document: dict[str, Any]) -> Accepted | ApiError | None:
    """An `ack` as Accepted, a write's `error` as the ApiError REST would raise; else None."""
    kind = document.get("type")
    if kind == "ack":
        return cast(Accepted, {k: v for k, v in document.items() if k not in ("type", "id")})
    if kind == "error" and document.get("op") == "send":
        retry_after = document.get("retry_after")
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        return api_error(int(document.get("status") or 400), document, wait)
    return None


class PendingWrites:
    def __init__(self) -> None:
        self._waiting: dict[str, tuple[dict[str, Any], asyncio.Future[Accepted]]] = {}

    def add(self, frame: dict[str, Any]) -> asyncio.Future[Accepted]:
        ref = str(frame["id"])
        if ref in self._waiting:
            raise ValueError(f"a write with id {ref!r} is already waiting for its answer")
        answer: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = (frame, answer)
        return answer

    def forget(self, ref: str) -> None:
        self._waiting.pop(ref, None)

    def frames(self) -> list[dict[str, Any]]:
        """The writes not answered yet, to send again on a new connection."""
        return [frame for frame, answer in self._waiting.values() if not answer.done()]

    def take(self, document: dict[str, Any]) -> bool:
        """Settle the write a frame answers; True if the frame was a write's answer."""
        answer = answer_of(document)
        if answer is None:
            return False
        waiting = self._waiting.get(str(document.get("id")))
        if waiting is not None and not waiting[1].done():
            if isinstance(answer, ApiError):
                waiting[1].set_exception(answer)
            else:
                waiting[1].set_result(answer)
        return True

    def fail(self, error: SubscriptionClosed) -> None:
        for _, answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(error)
