"""Gateways for the gateway tests: real `python -m gateway` processes on free ports, tokens
signed with the key they trust, WebSocket helpers, and `FoldRelay`, which folds the events
the gateways append with livefold's real folds and publishes the outputs to the state topics
(what the Faust workers do; here in a thread of the test process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import websockets
from confluent_kafka import Consumer, TopicPartition

from gateway.auth.backend import load_signing_keys, signing_key_path
from gateway.auth.tokens import issue_access_token
from gateway.feed import watermarks
from gateway.service import local_url, service
from infra.service import RunningService, free_port
from livefold.domains import DOMAINS
from livefold.folding import Domain, Notice, Rejected, Update
from livefold.moderation import fold as moderation
from livefold.moderation.state import PLATFORM
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.events import Event
from streams.producer import EventProducer
from streams.state import to_record
from tests.servers import log_to

Predicate = Callable[[dict[str, Any]], bool]
UPDATE_EVERY = 0.1


class Tokens:
    def __init__(self, settings: Settings):
        self.settings = settings.model_copy(update={"public_url": PUBLIC_URL})
        self.keys = load_signing_keys(signing_key_path(settings))

    def token(self, user: str, roles: set[str] | None = None, **options: Any) -> str:
        return issue_access_token(
            self.keys,
            user_id=user,
            roles=roles or {"viewer"},
            issuer=self.settings.gateway_url,
            audience=self.settings.auth_audience,
            **options,
        )

    def headers(self, user: str, roles: set[str] | None = None, **options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, roles, **options)}"}


# Gateways behind one load balancer share its public URL, the issuer of their tokens.
PUBLIC_URL = "https://livefold.test"


@dataclass(frozen=True)
class Running:
    settings: Settings
    url: str  # where this process listens


@contextlib.contextmanager
def gateway(settings: Settings, name: str = "gateway", **changes: Any) -> Iterator[Running]:
    """A gateway process on its own free port."""
    own = settings.model_copy(
        update={"gateway_port": free_port(), "public_url": PUBLIC_URL, **changes}
    )
    spec = service(own, name)
    handle = RunningService(spec, log_to(settings.data_dir / "logs")(spec))
    handle.start()
    try:
        yield Running(own, local_url(own))
    finally:
        handle.stop()


def ws_url(running: Running, query: str = "") -> str:
    url = running.url.replace("http", "ws", 1) + "/ws"
    return f"{url}?{query}" if query else url


async def next_frame(socket: Any, predicate: Predicate, timeout: float = 15.0) -> dict[str, Any]:
    """The first frame (JSON) that satisfies `predicate`, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no matching frame in time")
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        if predicate(frame):
            return frame


async def subscribe(
    socket: Any, stream: str, channels: list[str], cursors: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Subscribe and return the snapshot frames, one per channel."""
    frame: dict[str, Any] = {"op": "subscribe", "stream": stream, "channels": channels}
    if cursors:
        frame["cursors"] = cursors
    await socket.send(json.dumps(frame))

    def snapshot_of(channel: str) -> Predicate:
        return lambda f: f["type"] == "snapshot" and f["channel"] == channel

    return [await next_frame(socket, snapshot_of(channel)) for channel in channels]


def connect(running: Running, query: str = "", **options: Any) -> Any:
    return websockets.connect(ws_url(running, query), compression=None, **options)


def partitions_of(consumer: Consumer, topic: str, patience: float = 30.0) -> list[int]:
    """A topic's partitions; metadata right after the broker starts may not list them yet."""
    deadline = time.monotonic() + patience
    while True:
        found = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if found is not None and found.partitions and found.error is None:
            return list(found.partitions)
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions")
        time.sleep(0.2)


class FoldRelay:
    """Folds new events of the fold topics and appends the outputs to the state topics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.codec = Codec.from_settings(settings)
        self.producer = EventProducer(settings, self.codec)
        self.domains: list[Domain] = [*DOMAINS.values()]
        self.tables: dict[str, dict[str, Any]] = {}
        self.moderation: dict[str, Any] = {}
        self.held: dict[tuple[str, str], Update] = {}
        self.released = 0.0
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FoldRelay:
        self._thread.start()
        if not self._started.wait(60):
            raise RuntimeError("the fold relay did not start; see the thread's exception")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.producer.close()

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": f"relay-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        domains = ["stream", "chat", "polls", "quiz", "reactions", "tips", "audience", "moderation"]
        topics = [event_topic(domain) for domain in domains]
        consumer.assign(
            [
                TopicPartition(
                    topic, partition, watermarks(consumer, TopicPartition(topic, partition))[1]
                )
                for topic in topics
                for partition in partitions_of(consumer, topic)
            ]
        )
        self._started.set()
        try:
            while not self._stop.is_set():
                first = consumer.poll(0.05)  # then take what is there without waiting
                for message in [first, *consumer.consume(500, 0)] if first else []:
                    value = message.value()
                    if message.error() is None and value:
                        self.fold(self.codec.decode(value))
                self._flush()
                self._release()
        finally:
            consumer.close()

    def fold(self, event: Event) -> None:
        for domain in self.domains:
            if event.type in domain.HANDLES:
                table = self.tables.setdefault(domain.CHANNEL, {})
                key = domain.key_of(event)
                table[key], outputs = domain.fold(table.get(key), event)
                self._publish(outputs)
        if event.type in moderation.HANDLES:
            key = moderation.key_of(event)
            platform = self.moderation.get(PLATFORM)
            self.moderation[key], outputs = moderation.fold(
                self.moderation.get(key), event, platform
            )
            self._publish(outputs)

    def _publish(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, Update) and not output.urgent:
                # At most one update per key every UPDATE_EVERY, as the workers publish them.
                self.held[(output.channel, output.key)] = output
            elif isinstance(output, Update | Notice | Rejected):
                if isinstance(output, Update):  # urgent: out now, replacing a held one
                    self.held.pop((output.channel, output.key), None)
                record = to_record(output)
                self.producer.append_raw(record.topic, record.key, record.value)
            elif isinstance(output, Event):
                self.producer.append(output)

    def _release(self) -> None:
        if time.monotonic() - self.released < UPDATE_EVERY:
            return
        self.released = time.monotonic()
        held, self.held = self.held, {}
        for update in held.values():
            record = to_record(update)
            self.producer.append_raw(record.topic, record.key, record.value)

    def _flush(self) -> None:
        now = datetime.now(UTC)
        for domain in [*self.domains, moderation]:
            if domain.FLUSH_EVERY is None:
                continue
            table = self.moderation if domain is moderation else self.tables.get(domain.CHANNEL, {})
            for key, state in list(table.items()):
                table[key], outputs = domain.flush(state, now)
                self._publish(outputs)


def main() -> None:
    """`python -m tests.gateways relay`: a FoldRelay in its own process until SIGTERM (for the
    gateway benchmark, when no fold worker is part of the stack)."""
    import signal
    import sys

    if sys.argv[1:] != ["relay"]:
        raise SystemExit("usage: python -m tests.gateways relay")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with FoldRelay(Settings()):
        print("relay ready", flush=True)
        stopping.wait()


if __name__ == "__main__":
    main()
