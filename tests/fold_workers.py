"""Support for the fold worker tests: workers as processes, and a reader of the state topics."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from confluent_kafka import Message

from agents.service import FoldWorkerService
from agents.service import service as fold_worker
from infra.service import RunningService, running
from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, STATE_TOPICS, state_topic
from streams.consumer import Positions, TopicFollower
from streams.events import Event, new_event
from streams.state import StateMessage, from_record
from tests.servers import log_to


def group_settings(stack: Settings, name: str, **changes: Any) -> Settings:
    """The stack's settings with a fold group (and so tables) of this test module only."""
    group = f"folds-{name}-{uuid.uuid4().hex[:6]}"
    return stack.with_secrets().model_copy(
        update={"fold_group": group, "data_dir": stack.data_dir / group, **changes}
    )


def worker(settings: Settings, number: int = 1) -> FoldWorkerService:
    return fold_worker(settings, number)


@contextlib.contextmanager
def workers(settings: Settings, count: int = 1) -> Iterator[list[RunningService]]:
    services: list[Any] = [worker(settings, n) for n in range(1, count + 1)]
    with running(services, output=log_to(settings.data_dir / "logs")) as handles:
        yield handles


def event(
    type_: str, stream: str, actor: str = "viewer-1", after: float = 0.0, **payload: Any
) -> Event:
    """An event stamped now (plus `after` seconds)."""
    moment = datetime.now(UTC) + timedelta(seconds=after)
    return new_event(type_, stream_id=stream, actor_id=actor, occurred_at=moment, **payload)


class StateReader:
    """Every record appended to the state topics after it started, decoded, in a list."""

    def __init__(self, settings: Settings, channels: list[str] | None = None):
        topics = [state_topic(name) for name in channels or list(STATE_TOPICS)]
        self.messages: list[StateMessage] = []
        self._lock = threading.Lock()
        self._follower = TopicFollower(settings.kafka_config(), topics, self._add, "state-reader")

    def __enter__(self) -> StateReader:
        self._follower.start(timeout=30.0, since_ms=int(time.time() * 1000))
        return self

    def __exit__(self, *_: object) -> None:
        self._follower.stop()

    def _add(self, records: list[Message], _reached: Positions) -> None:
        decoded = [from_record(m.value() or b"") for m in records if m.value() is not None]
        with self._lock:
            self.messages += decoded

    def of(self, channel: str, key: str, kind: str = "update") -> list[StateMessage]:
        with self._lock:
            return [
                m for m in self.messages if m.channel == channel and m.key == key and m.kind == kind
            ]

    def latest(self, channel: str, key: str) -> dict[str, Any] | None:
        found = self.of(channel, key)
        return found[-1].value if found else None

    def wait_for(
        self,
        what: Callable[[], Any],
        timeout: float = 20.0,
        description: str = "state",
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = what()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError(f"no {description} on the state topics within {timeout:.0f} s")


def relabelled(events: list[Event], run: str) -> list[Event]:
    """The events under stream ids and event ids of this run only (a copy keeps its copy's id)."""
    ids: dict[str, str] = {}
    out = []
    for original in events:
        fresh = str(uuid.uuid5(uuid.NAMESPACE_URL, run + original.event_id))
        body = {
            **original.body,
            "event_id": ids.setdefault(original.event_id, fresh),
            "stream_id": f"{run}-{original.stream_id}",
        }
        out.append(Event(original.type, body))
    return out


def dead_letters(settings: Settings, stream: str) -> list[dict[str, str]]:
    """The headers (reason, source) of every dead letter about `stream` so far."""
    follower = TopicFollower(settings.kafka_config(), [DEADLETTER_TOPIC], None, "dead-letters")
    letters = []
    for message in follower.read_to_end(timeout=30.0):
        if message.key() == stream.encode():
            headers = cast(list[tuple[str, bytes]], message.headers() or [])
            letters.append({name: value.decode() for name, value in headers})
    return letters
