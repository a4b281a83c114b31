"""`Idempotency-Key`: a retried request never creates a second event.

The event id is derived from (user, method, path, key), so every gateway process gives a retry
the same id. Each process keeps its recent answers, so a retry it has seen gets the very same
response, and a key reused for a different request is refused; a retry of a request still
under way waits for its outcome (`Answers.attempt`). A gateway that has no answer for the id
looks for it in the log before appending (gateway/resends.py), so the log holds it once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeGuard

from gateway.errors import ApiError
from streams.validation import FieldError

NAMESPACE = uuid.UUID("0b6f1c9e-5d2a-4e8b-9f37-2a1c4d6e8b50")
HEADER = "idempotency-key"
MAX_KEY = 128


def is_valid_key(key: object) -> TypeGuard[str]:
    return isinstance(key, str) and 0 < len(key) <= MAX_KEY and key.isascii() and key.isprintable()


def validated_key(key: str) -> str:
    if not is_valid_key(key):
        raise ApiError(
            422,
            "invalid",
            "the Idempotency-Key header is not valid",
            [FieldError("Idempotency-Key", f"must be 1..{MAX_KEY} printable ASCII characters")],
        )
    return key


def event_id_for(user_id: str, method: str, path: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{user_id}\n{method} {path}\n{key}"))


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    fingerprint: str
    status: int
    body: dict[str, Any]
    at: float


class Answers:
    """Recent answers by event id (bounded, and forgotten after `ttl` seconds)."""

    def __init__(self, kept: int = 50_000, ttl: float = 24 * 3600):
        self.kept = kept
        self.ttl = ttl
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._attempts: dict[str, asyncio.Event] = {}  # keyed writes under way, set when done

    @asynccontextmanager
    async def attempt(self, event_id: str, body_fingerprint: str) -> AsyncIterator[Answer | None]:
        """One attempt at a time per event id in this process: a retry sent while an earlier
        attempt is under way (its client gave up waiting) waits for that attempt's outcome,
        then gets its answer, or makes the next attempt if that one failed."""
        while (earlier := self._attempts.get(event_id)) is not None:
            await earlier.wait()
        answer = self.recall(event_id, body_fingerprint)
        if answer is not None:
            yield answer
            return
        done = self._attempts[event_id] = asyncio.Event()
        try:
            yield None
        finally:
            del self._attempts[event_id]
            done.set()

    def recall(self, event_id: str, body_fingerprint: str) -> Answer | None:
        answer = self._answers.get(event_id)
        if answer is None or time.monotonic() - answer.at > self.ttl:
            return None
        if answer.fingerprint != body_fingerprint:
            raise ApiError(
                409,
                "idempotency_conflict",
                "this Idempotency-Key was used for a different request; use a new key",
            )
        return answer

    def remember(
        self, event_id: str, body_fingerprint: str, status: int, body: dict[str, Any]
    ) -> None:
        self._answers[event_id] = Answer(body_fingerprint, status, body, time.monotonic())
        self._answers.move_to_end(event_id)
        while len(self._answers) > self.kept:
            self._answers.popitem(last=False)
