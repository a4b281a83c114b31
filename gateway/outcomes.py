"""What became of a write after its 202, as `GET /api/v1/events/{event_id}` tells its author
(gateway/event_status.py).

- `rejected` (with the fold's reason): every gateway hears every rejection from the state
  topics (the same records that become `rejected` frames), so any gateway answers it.
- `applied`: the fold workers have committed past the event's offset (they commit only once
  its outputs, a rejection included, are on the state topics) and, to let a rejection written
  just before that commit reach this gateway's feed, `SETTLE_SECONDS` have passed since.
- `pending`: appended, not folded yet.

Where an event sits in the log is known to the gateway that appended it, so `applied` and
`pending` come from that gateway (behind a load balancer: sticky sessions, or ask again);
elsewhere an event not rejected is 404. Only the event's author (or an admin) may ask.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from livefold.settings import Settings

REMEMBERED = 100_000  # events per kind kept, oldest dropped first
SETTLE_SECONDS = 1.0
COMMITS_CACHED_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Position:
    actor_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


class Outcomes:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.positions: dict[str, Position] = {}
        self.rejections: dict[str, dict[str, Any]] = {}
        self.passed_at: dict[str, float] = {}  # event id -> when its commit was first seen
        self._commits: dict[tuple[str, int], int] = {}
        self._commits_at = 0.0
        self._admin: AdminClient | None = None

    def appended(self, position: Position, event_id: str) -> None:
        _remember(self.positions, event_id, position)

    def rejected(self, value: dict[str, Any]) -> None:
        event_id = value.get("event_id")
        if isinstance(event_id, str) and value.get("frame", "rejected") == "rejected":
            _remember(self.rejections, event_id, value)

    async def status(self, event_id: str) -> dict[str, Any] | None:
        """The event's outcome (with "actor_id" to check who asks), None if unknown here."""
        rejection = self.rejections.get(event_id)
        if rejection is not None:
            return {
                "event_id": event_id,
                "status": "rejected",
                "event_type": rejection.get("event_type"),
                "reason": rejection.get("reason"),
                "actor_id": rejection.get("actor_id"),
            }
        position = self.positions.get(event_id)
        if position is None:
            return None
        committed = await self._committed()
        folded = committed.get((position.topic, position.partition), -1) > position.offset
        now = time.monotonic()
        if folded:
            first = self.passed_at.setdefault(event_id, now)
            folded = now - first >= SETTLE_SECONDS
        return {
            "event_id": event_id,
            "status": "applied" if folded else "pending",
            "event_type": position.event_type,
            "reason": None,
            "actor_id": position.actor_id,
        }

    async def _committed(self) -> dict[tuple[str, int], int]:
        if time.monotonic() - self._commits_at > COMMITS_CACHED_SECONDS:
            self._commits = await asyncio.to_thread(self._read_commits)
            self._commits_at = time.monotonic()
        return self._commits

    def _read_commits(self) -> dict[tuple[str, int], int]:
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        group = self.settings.fold_group
        answer = self._admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        partitions: list[TopicPartition] = answer[group].result().topic_partitions or []
        return {(p.topic, p.partition): p.offset for p in partitions}


def _remember(entries: dict[str, Any], key: str, value: Any) -> None:
    entries[key] = value
    if len(entries) > REMEMBERED:
        del entries[next(iter(entries))]
