"""Gateways for the gateway tests: real `python -m gateway` processes on free ports, tokens
signed with the key they trust, WebSocket helpers, and `fold_workers`: the real fold worker,
which folds what the gateways append and publishes the outputs to the state topics (the suite
shares one on its stack: `folded` in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from confluent_kafka import Consumer
from websockets.exceptions import ConnectionClosed

from agents import service as folds
from gateway.service import local_url, service
from infra.service import RunningService, free_port, running
from livefold.access.local import load_signing_keys, signing_key_path
from livefold.access.tokens import issue_access_token
from livefold.media import RECORDING_FINISHED
from livefold.settings import Settings
from streams.codec import Codec
from streams.events import new_event
from streams.producer import EventProducer
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
PUBLIC_URL = "https://livefold.localhost"  # loopback (RFC 6761): a local deployment
METRICS_TOKEN = "metrics-scraper-token"


@dataclass(frozen=True)
class Running:
    settings: Settings
    url: str  # where this process listens


@contextlib.contextmanager
def gateway(settings: Settings, name: str = "gateway", **changes: Any) -> Iterator[Running]:
    """A gateway process on its own free port."""
    defaults = {"public_url": PUBLIC_URL, "gateway_metrics_token": METRICS_TOKEN}
    own = settings.model_copy(update={"gateway_port": free_port(), **defaults, **changes})
    spec = service(own, name)
    handle = RunningService(spec, log_to(settings.data_dir / "logs")(spec))
    handle.start()
    try:
        yield Running(own, local_url(own))
    finally:
        handle.stop()


STREAMER, VIEWER, MOD = "streamer-eve", "viewer-fay", "mod-gus"


class Pair:
    """Two gateways of one deployment, with the streamer's and viewers' HTTP writes."""

    def __init__(self, a: Running, b: Running, tokens: Tokens):
        self.a, self.b, self.tokens = a, b, tokens

    def post(self, running: Running, path: str, user: str, body: Any = None) -> Any:
        roles = {"streamer"} if user.startswith("streamer") else {"viewer"}
        answer = httpx.post(
            f"{running.url}/api/v1{path}", json=body or {}, headers=self.tokens.headers(user, roles)
        )
        assert answer.status_code == 202, answer.text
        return answer.json()

    def stream(self) -> str:
        body = {"title": "Live coding", "category": "Software"}
        stream_id = str(self.post(self.a, "/streams", STREAMER, body)["stream_id"])
        for one in (self.a, self.b):
            deadline = time.monotonic() + 15
            while httpx.get(f"{one.url}/api/v1/streams/{stream_id}").status_code != 200:
                assert time.monotonic() < deadline, "the stream did not reach the gateways"
                time.sleep(0.05)
        return stream_id

    def say(self, stream_id: str, text: str, user: str = VIEWER) -> str:
        return str(
            self.post(self.a, f"/streams/{stream_id}/chat", user, {"text": text})["message_id"]
        )


def recorded(settings: Settings, stream_id: str, *gateways: str, length_ms: int = 60_000) -> str:
    """A finished recording of the stream (its id), appended as the media service appends one
    and listed on the gateways, so clips can be cut from it (none plays: no video exists)."""
    recording_id = f"ingest-{uuid.uuid4().hex[:8]}"
    event = new_event(
        RECORDING_FINISHED, stream_id=stream_id, actor_id="system", recording_id=recording_id,
        bucket="livefold-recordings", s3_key=f"recordings/{stream_id}/{recording_id}/master.m3u8",
        duration_ms=length_ms, size_bytes=None,
    )  # fmt: skip
    producer = EventProducer(settings, Codec.from_settings(settings))
    try:
        producer.append(event).result(30)
    finally:
        producer.close()
    for url in gateways:
        vods = f"{url}/api/v1/streams/{stream_id}/vods/{recording_id}"
        eventually(lambda: httpx.get(vods).status_code == 200)  # noqa: B023
    return recording_id


def chat_texts(frame: dict[str, Any]) -> list[str]:
    return [n["value"]["text"] for n in frame["notices"] if n["kind"] == "message"]


def metrics_of(running: Running) -> str:
    """The gateway's Prometheus metrics, as its scraper reads them."""
    token = running.settings.secret("gateway_metrics_token")
    answer = httpx.get(f"{running.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.text


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


async def signed_in(running: Running, tokens: Tokens, user: str) -> Any:
    """A socket connected with a token for `user`, its welcome read."""
    socket = await connect(running, f"access_token={tokens.token(user)}")
    assert json.loads(await socket.recv())["user"] == user
    return socket


def send_frame(ref: str, write: str, stream_id: str, body: dict[str, Any]) -> str:
    frame = {"op": "send", "id": ref, "write": write, "stream": stream_id, "body": body}
    return json.dumps(frame)


async def answer_to(socket: Any, ref: str) -> dict[str, Any]:
    """The gateway's ack or error for the write `ref`."""
    return await next_frame(socket, lambda f: f["type"] in ("ack", "error") and f.get("id") == ref)


def auth_frame(token: str) -> str:
    return json.dumps({"op": "auth", "token": token})


def expires_at(token: str) -> int:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(claims["exp"])


async def close_of(socket: Any, timeout: float = 60.0) -> tuple[Any, float]:
    """Read until the gateway closes the socket (within `timeout` seconds): its close frame,
    and when it came."""

    async def until_closed() -> None:
        while True:
            await socket.recv()

    try:
        await asyncio.wait_for(until_closed(), timeout)
    except ConnectionClosed as closed:
        return closed.rcvd, time.time()
    raise AssertionError("unreachable: the socket reads until it is closed")


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
