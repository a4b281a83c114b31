"""A gateway's health as Kubernetes probes read it: `/health/live` is 200 only while every part
of the process works (a stopped state feed means fan-out is dead: restart it), `/health/ready`
(and `/health`) only once the state topics are read, while live; a state record that cannot
be applied is stepped over without stopping the feed or losing the records after it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from starlette.applications import Starlette

from gateway.app import routes
from gateway.metrics import REGISTRY
from gateway.rights import RESTRICTIONS, STAFF
from gateway.runtime import Gateway
from livefold.access.local import LocalVerifier
from livefold.folding import Update
from livefold.settings import Settings
from streams.codec import Codec
from streams.state import StateWriter, from_record
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
    assert failure.startswith("state feed: KafkaException(")
    assert "livefold.state.nothing-here.v1 does not exist" in failure


def test_a_state_record_that_cannot_be_applied_is_skipped_and_the_rest_of_its_batch_applied(
    stack: Settings,
) -> None:
    """A record the folds never write (a restriction's timeout that is not a number) raises
    while the gateway applies it: it is counted and skipped, and the records after it in the
    same batch still reach the gateway's state."""
    poisoned, shown = f"poisoned-{uuid.uuid4().hex}", f"shown-{uuid.uuid4().hex}"
    bad: dict[str, Any] = {
        "key": f"{poisoned}/{RESTRICTIONS}",
        "value": {"timeouts": {"troll": "soon"}},
    }
    good: dict[str, Any] = {"key": f"{shown}/{STAFF}", "value": {"moderators": ["mod-after"]}}

    # Written as the fold worker writes state records (the wire format, the registered schema):
    # the bad one decodes and only raises when applied.
    writer = StateWriter.registered(Codec.from_settings(stack))
    records = [writer.record(Update("moderation", r["key"], r["value"])) for r in (bad, good)]

    async def applied() -> tuple[dict[str, Any] | None, float, list[str]]:
        runtime = Gateway(stack, LocalVerifier(stack))
        await runtime.start()
        try:
            assert await runtime.wait_ready(60)
            before = poison_count()
            # One producer batch on one partition: the feed takes both records in one go.
            producer = Producer({**stack.kafka_config(), "linger.ms": 200})
            for record in records:
                producer.produce(record.topic, record.value, record.key, partition=0)
            assert producer.flush(30) == 0
            deadline = time.monotonic() + 15
            while (view := runtime.store.view("moderation", good["key"])) is None:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            return view, poison_count() - before, runtime.failures()
        finally:
            await runtime.stop()

    view, poisoned_records, failures = asyncio.run(applied())
    assert view is not None and view["moderators"] == ["mod-after"]
    assert poisoned_records == 1
    assert failures == []


def poison_count() -> float:
    found = REGISTRY.get_sample_value("livefold_gateway_poison_records_total", {"reader": "state"})
    return found or 0.0
