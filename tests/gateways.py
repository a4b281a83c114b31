"""Gateways for the gateway tests: real `python -m gateway` processes on free ports, tokens
signed with the key they trust, WebSocket helpers, and `fold_workers`: the real fold worker,
which folds what the gateways append and publishes the outputs to the state topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import websockets
from confluent_kafka import Consumer

from agents import service as folds
from gateway.auth.backend import load_signing_keys, signing_key_path
from gateway.auth.tokens import issue_access_token
from gateway.service import local_url, service
from infra.service import RunningService, free_port, running
from livefold.settings import Settings
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


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """`check()`'s first truthy result, asked every 50 ms, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "the state did not arrive in time"
        time.sleep(0.05)
    return result


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


@contextlib.contextmanager
def fold_workers(settings: Settings) -> Iterator[None]:
    """The real Faust fold worker (`python -m agents worker`) folding what the gateways append
    and publishing to the state topics, as in `make run`."""
    with running([folds.service(settings)], output=log_to(settings.data_dir / "logs")):
        yield
