"""A gateway's health as Kubernetes probes read it: `/health/live` is 200 only while every part
of the process works (a stopped state feed means fan-out is dead: restart it), `/health/ready`
(and `/health`) only once the state topics are read, while live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import routes
from gateway.auth.backend import LocalVerifier
from gateway.runtime import Gateway
from livefold.settings import Settings
from streams.state import from_record
from tests.gateways import Running, gateway


@pytest.fixture(scope="module")
def running(stack: Settings) -> Iterator[Running]:
    with gateway(stack, "gateway-health") as process:
        yield process


def test_a_working_gateway_is_live_and_ready(running: Running) -> None:
    live = httpx.get(f"{running.url}/health/live", timeout=5)
    assert (live.status_code, live.json()) == (200, {"live": True, "failures": []})
    for path in ("/health/ready", "/health"):
        ready = httpx.get(f"{running.url}{path}", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True


def test_a_gateway_whose_state_feed_stopped_is_neither_live_nor_ready(stack: Settings) -> None:
    """The feed thread ends on an error (here: a topic that does not exist); the process still
    answers, so only the probes can tell that nothing reaches its sockets any more."""

    async def probe() -> tuple[httpx.Response, httpx.Response]:
        runtime = Gateway(stack, LocalVerifier(stack))
        await runtime.start({"livefold.state.nothing-here.v1": from_record})
        try:
            deadline = time.monotonic() + 30
            while not runtime.failures():
                assert time.monotonic() < deadline, "the feed did not stop"
                await asyncio.sleep(0.1)
            app = Starlette(routes=routes())
            app.state.gateway = runtime
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                return await client.get("/health/live"), await client.get("/health/ready")
        finally:
            await runtime.stop()

    live, ready = asyncio.run(probe())
    assert live.status_code == 503 and ready.status_code == 503
    (failure,) = live.json()["failures"]
    assert failure.startswith("state feed: RuntimeError(")
    assert "livefold.state.nothing-here.v1 does not exist" in failure
