"""What became of a write after its 202, as `GET /api/v1/events/{event_id}` tells its author
(gateway/event_status.py) and `Prefer: wait=...` waits for (gateway/writes.py).

Any gateway answers: the fold workers publish, once a batch's outputs are in Kafka, what became
of each of its events on the `outcomes` state topic (`livefold.folding.outcome_notices`), which
every gateway follows, as it follows the rejections the folds publish (the same records that
become `rejected` frames, which usually come a little earlier).

- `applied` / `rejected` (with the fold's reason): from those records, on every gateway;
- `pending`: appended by this gateway, not folded yet (another gateway does not know the event
  until it is folded: 404 there meanwhile).

A gateway knows the outcomes of the events folded since it started, and of recent batches
before (the topic's notices that compaction left). Only the event's author (or an admin) may
ask.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

REMEMBERED = 100_000  # events per kind kept, oldest dropped first
FINAL = ("applied", "rejected")


@dataclass(frozen=True, slots=True)
class Position:
    actor_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


class Outcomes:
    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}  # appended here, not folded yet
        self.finished: dict[str, dict[str, Any]] = {}  # event id -> its outcome
        self.waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}

    def appended(self, position: Position, event_id: str) -> None:
        if event_id not in self.finished:
            _remember(self.positions, event_id, position)

    def rejected(self, value: dict[str, Any]) -> None:
        """A rejection record of a state topic (not a held message's word to its author)."""
        event_id = value.get("event_id")
        if isinstance(event_id, str) and value.get("frame", "rejected") == "rejected":
            self._finish(
                event_id,
                "rejected",
                value.get("event_type"),
                value.get("actor_id"),
                value.get("reason"),
            )

    def folded(self, value: dict[str, Any]) -> None:
        """An `outcomes` record: `{"events": [[id, actor, type, status, reason], ...]}`."""
        for entry in value.get("events") or ():
            if isinstance(entry, list) and len(entry) == 5 and entry[3] in FINAL:
                event_id, actor_id, event_type, status, reason = entry
                self._finish(str(event_id), status, event_type, actor_id, reason)

    def _finish(
        self, event_id: str, status: str, event_type: Any, actor_id: Any, reason: Any
    ) -> None:
        known = self.finished.get(event_id)
        if known is not None and known["status"] == "rejected":
            return  # a redelivered copy folds to nothing: the first outcome stands
        outcome = {
            "event_id": event_id,
            "status": status,
            "event_type": event_type,
            "reason": reason,
            "actor_id": actor_id,
        }
        _remember(self.finished, event_id, outcome)
        self.positions.pop(event_id, None)
        for waiter in self.waiters.pop(event_id, ()):
            if not waiter.done():
                waiter.set_result(outcome)

    def status(self, event_id: str) -> dict[str, Any] | None:
        """The event's outcome (with "actor_id" to check who asks), None if unknown here."""
        known = self.finished.get(event_id)
        if known is not None:
            return dict(known)
        position = self.positions.get(event_id)
        if position is None:
            return None
        return {
            "event_id": event_id,
            "status": "pending",
            "event_type": position.event_type,
            "reason": None,
            "actor_id": position.actor_id,
        }

    async def wait(self, event_id: str, seconds: float) -> dict[str, Any] | None:
        """The event's outcome once it is applied or rejected, within `seconds`; else its
        status then (pending), None if unknown."""
        known = self.finished.get(event_id)
        if known is not None:
            return dict(known)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(event_id, []).append(waiter)
        try:
            return dict(await asyncio.wait_for(asyncio.shield(waiter), seconds))
        except TimeoutError:
            return self.status(event_id)
        finally:
            waiting = self.waiters.get(event_id)
            if waiting is not None and waiter in waiting:
                waiting.remove(waiter)
                if not waiting:
                    del self.waiters[event_id]


def _remember(entries: dict[str, Any], key: str, value: Any) -> None:
    entries[key] = value
    if len(entries) > REMEMBERED:
        del entries[next(iter(entries))]
