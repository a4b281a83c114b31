"""Viewer presence from real sockets through real gateways: a socket subscribed to a stream is a
viewer (the signed-in user, or an anonymous one per socket), counted live on the `audience`
channel by the real fold worker and in ClickHouse by the real analytics sink; a viewer on two
devices is two sessions and one viewer; a socket that leaves ends its session at once, and the
sessions of a gateway killed with its sockets open end after their declared timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agents.service import service as fold_worker
from gateway.service import local_url, service
from infra.service import RunningService, free_port
from livefold.analytics_store import clickhouse_client
from livefold.settings import Settings
from streams.presence import PresenceLog, device_of
from tests.analytics_support import Sink, run, wait_caught_up
from tests.gateways import (
    PUBLIC_URL,
    Running,
    Tokens,
    close_of,
    connect,
    next_frame,
    subscribe,
)
from tests.servers import log_to

STREAMER, UNA = "streamer-presence", "viewer-una"
HEARTBEAT = 1.5  # seconds: sessions declare a 3 s timeout
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


@contextlib.contextmanager
def gateway_process(settings: Settings, name: str) -> Iterator[tuple[Running, RunningService]]:
    own = settings.model_copy(update={"gateway_port": free_port(), "public_url": PUBLIC_URL})
    spec = service(own, name)
    handle = RunningService(spec, log_to(settings.data_dir / "logs")(spec))
    handle.start()
    try:
        yield Running(own, local_url(own)), handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def setup(stack: Settings) -> Iterator[tuple[Settings, Running, RunningService, Running]]:
    settings = stack.model_copy(
        update={
            "fold_group": f"presence-folds-{uuid.uuid4().hex[:6]}",
            "gateway_presence_heartbeat_seconds": HEARTBEAT,
        }
    )
    spec = fold_worker(settings)
    worker = RunningService(spec, log_to(settings.data_dir / "logs")(spec))
    worker.start()
    sink = Sink(settings)
    sink.start()
    try:
        with (
            gateway_process(settings, "gateway-presence-a") as (a, a_handle),
            gateway_process(settings, "gateway-presence-b") as (b, _),
        ):
            yield settings, a, a_handle, b
    finally:
        sink.stop()
        worker.stop()


def new_stream(tokens: Tokens, *gateways: Running) -> str:
    answer = httpx.post(
        f"{gateways[0].url}/api/v1/streams",
        json={"title": "Presence", "category": "Tests"},
        headers=tokens.headers(STREAMER, {"streamer"}),
    )
    assert answer.status_code == 202, answer.text
    stream_id = str(answer.json()["stream_id"])
    for running in gateways:
        deadline = time.monotonic() + 30
        while httpx.get(f"{running.url}/api/v1/streams/{stream_id}").status_code != 200:
            assert time.monotonic() < deadline, "the stream did not reach the gateways"
            time.sleep(0.05)
    return stream_id


async def audience_until(socket: Any, wanted: dict[str, int], timeout: float = 30.0) -> Any:
    """The first audience view (snapshot or batch) whose figures include `wanted`."""

    def matches(frame: dict[str, Any]) -> bool:
        if frame.get("channel") != "audience" or frame["type"] not in ("snapshot", "batch"):
            return False
        views = [u["value"] for u in frame["updates"]]
        return any(all(view.get(k) == v for k, v in wanted.items()) for view in views)

    frame = await next_frame(socket, matches, timeout)
    return frame["updates"][-1]["value"]


def test_sockets_are_viewers_live_and_in_clickhouse_and_a_killed_gateways_sessions_time_out(
    setup: tuple[Settings, Running, RunningService, Running],
) -> None:
    settings, a, a_handle, b = setup
    tokens = Tokens(settings)
    stream_id = new_stream(tokens, a, b)
    una = f"access_token={tokens.token(UNA)}"

    async def scenario() -> dict[str, Any]:
        async with (
            connect(b, user_agent_header=DESKTOP) as watcher,
            connect(a, una, user_agent_header=PHONE) as una_phone,
            connect(b, una, user_agent_header=DESKTOP) as una_desktop,
            connect(a, user_agent_header=PHONE) as anon_a,
            connect(b) as anon_b,
        ):
            for socket in (watcher, una_phone, una_desktop, anon_a, anon_b):
                await socket.recv()  # welcome
            await subscribe(watcher, stream_id, ["audience"])
            for socket in (una_phone, una_desktop, anon_a, anon_b):
                await subscribe(socket, stream_id, ["chat", "polls"])
            # watcher, una (two devices), anon_a, anon_b: four viewers in five sessions
            view = await audience_until(watcher, {"viewers": 4, "sessions": 5})
            assert view["devices"] == {"desktop": 2, "phone": 2, "other": 1}
            await asyncio.sleep(2 * HEARTBEAT)  # heartbeats flow
            await anon_b.close()
            await audience_until(watcher, {"viewers": 3})
            os.killpg(a_handle.process.pid, signal.SIGKILL)  # una's phone and anon_a go silent
            view = await audience_until(watcher, {"viewers": 2}, timeout=60)
            wait_caught_up(settings, "livefold-analytics")
            ((now, _),) = run(client, "watching_now", stream_id=stream_id)
            assert now == 2  # una on her desktop, and the watcher
            return view

    client = clickhouse_client(settings)
    view = asyncio.run(scenario())
    assert (view["peak_viewers"], view["unique_viewers"], view["sessions"]) == (4, 4, 5)
    assert view["watch_ms"] >= 5 * 1000  # every session watched through a heartbeat or more

    wait_caught_up(settings, "livefold-analytics")
    ((peak, sessions, unique, devices),) = run(client, "audience", stream_id=stream_id)
    assert (peak, sessions, unique) == (4, 5, 4)
    assert devices == {"desktop": 2, "phone": 2, "other": 1}
    ((now, average_ms),) = run(client, "watching_now", stream_id=stream_id)
    assert now == 0  # the sockets on B closed, those on A timed out
    assert average_ms >= HEARTBEAT * 1000


def test_a_socket_subscribed_as_not_watching_is_no_viewer(
    setup: tuple[Settings, Running, RunningService, Running],
) -> None:
    settings, _, _, b = setup  # (gateway A may have been killed by the test before)
    tokens = Tokens(settings)
    stream_id = new_stream(tokens, b)

    async def scenario() -> None:
        async with connect(b) as overlay, connect(b) as watcher, connect(b) as second:
            for socket in (overlay, watcher, second):
                await socket.recv()  # welcome
            await subscribe(watcher, stream_id, ["audience"])
            await audience_until(watcher, {"viewers": 1, "sessions": 1})
            frame = {"op": "subscribe", "stream": stream_id, "channels": ["chat", "tips"]}
            await overlay.send(json.dumps({**frame, "watching": False}))
            for _ in range(2):
                await next_frame(overlay, lambda f: f["type"] == "snapshot")
            await subscribe(second, stream_id, ["chat"])
            await audience_until(watcher, {"sessions": 2})
            # Had the overlay joined, its session (appended before the second's) would show by
            # the next publication (the fold publishes viewers at most once a second).
            await asyncio.sleep(2.5)
            view = httpx.get(f"{b.url}/api/v1/streams/{stream_id}").json()
            assert (view["viewers"], view["peak_viewers"]) == (2, 2)
            await overlay.send(json.dumps({**frame, "watching": "no"}))
            closed = await close_of(overlay)
            assert (closed[0].code, closed[0].reason) == (
                4400,
                'bad frame: "watching" must be true or false',
            )

    asyncio.run(scenario())


def test_a_heartbeat_per_session_per_interval_each_on_its_own_schedule() -> None:
    appended: list[Any] = []
    clock = [0.0]
    log = PresenceLog(appended.append, 30.0, clock=lambda: clock[0])
    first = log.join("s1", "ann", "phone")
    clock[0] = 10.0
    log.join("s1", "bob", "tv")
    clock[0] = 29.9
    assert log.beat() == 0
    clock[0] = 30.0
    assert log.beat() == 1  # ann's, 30 s after her join; bob's is due at 40 s
    clock[0] = 40.0
    assert log.beat() == 1
    log.leave(first)
    log.leave(first)  # a second leave says nothing
    names = [(e.name, e.body["viewer_id"], e.body.get("timeout_ms")) for e in appended]
    assert names == [
        ("ViewerJoined", "ann", 60_000),
        ("ViewerJoined", "bob", 60_000),
        ("ViewerHeartbeat", "ann", 60_000),
        ("ViewerHeartbeat", "bob", 60_000),
        ("ViewerLeft", "ann", None),
    ]


def test_devices_are_told_from_the_user_agent() -> None:
    assert device_of(PHONE) == "phone"
    assert device_of("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)") == "tablet"
    assert device_of("Mozilla/5.0 (Linux; Android 14; SM-X710) Safari/537.36") == "tablet"
    assert device_of("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36") == "phone"
    assert device_of("Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0)") == "tv"
    assert device_of(DESKTOP) == "desktop"
    assert device_of(None) == device_of("curl/8.5") == "other"
