"""One gateway served over HTTPS/WSS with a generated self-signed certificate and tight limits:
rate limits answer 429 with Retry-After (sockets: close 4429), big bodies 413, CORS only for
the configured origin."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from livefold.settings import Settings
from tests.gateways import Running, Tokens, connect, gateway

ORIGIN = "https://app.livefold.test"


@pytest.fixture(scope="module")
def strict(stack: Settings) -> Iterator[tuple[Running, ssl.SSLContext, Tokens]]:
    with gateway(
        stack,
        "gateway-strict",
        gateway_tls_self_signed=True,
        gateway_user_writes_per_second=1.0,
        gateway_ip_connects_per_second=1.0,
        gateway_ws_frames_per_second=2.0,
        gateway_max_body_bytes=1024,
        gateway_cors_origins=(ORIGIN,),
    ) as running:
        trusted = ssl.create_default_context(
            cafile=str(stack.data_dir / "gateway" / "tls" / "gateway.crt")
        )
        yield running, trusted, Tokens(stack)


def test_the_gateway_serves_https_with_its_generated_certificate(
    strict: tuple[Running, ssl.SSLContext, Tokens],
) -> None:
    running, trusted, _ = strict
    assert running.url.startswith("https://")
    answer = httpx.get(f"{running.url}/health", verify=trusted)
    assert answer.status_code == 200 and answer.json()["ready"] is True
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.url}/health")  # not a certificate anyone else trusts


def test_writes_over_the_users_rate_get_429_with_retry_after(
    strict: tuple[Running, ssl.SSLContext, Tokens],
) -> None:
    running, trusted, tokens = strict
    client = httpx.Client(base_url=f"{running.url}/api/v1", verify=trusted)
    headers = tokens.headers("viewer-hasty")
    answers = [
        client.post("/streams/s/chat", json={"text": "hi"}, headers=headers) for _ in range(3)
    ]
    assert [a.status_code for a in answers[:2]] == [404, 404]  # within the burst: checked on
    assert answers[2].status_code == 429
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert "too many writes" in answers[2].json()["reason"]
    time.sleep(1.1)
    calm = client.post("/streams/s/chat", json={"text": "hi"}, headers=headers)
    assert calm.status_code == 404


def test_bodies_over_the_limit_get_413_with_or_without_a_length(
    strict: tuple[Running, ssl.SSLContext, Tokens],
) -> None:
    running, trusted, tokens = strict
    url = f"{running.url}/api/v1/streams/s/chat"
    headers = tokens.headers("viewer-verbose")
    sized = httpx.post(url, content=b"x" * 2000, headers=headers, verify=trusted)
    assert sized.status_code == 413 and sized.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:
        yield b"{" + b" " * 1500
        yield b"}"

    streamed = httpx.post(url, content=chunks(), headers=headers, verify=trusted)
    assert streamed.status_code == 413


def test_cors_allows_the_configured_origin_only(
    strict: tuple[Running, ssl.SSLContext, Tokens],
) -> None:
    running, trusted, _ = strict

    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{running.url}/api/v1/streams/s/chat",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,idempotency-key",
            },
            verify=trusted,
        )

    allowed = preflight(ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    refused = preflight("https://evil.example")
    assert "access-control-allow-origin" not in refused.headers


def test_sockets_over_the_frame_rate_or_connection_rate_are_closed_with_4429(
    strict: tuple[Running, ssl.SSLContext, Tokens],
) -> None:
    running, trusted, _ = strict

    async def refusal(socket: Any) -> Any:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await socket.recv()
        return closed.value.rcvd

    async def scenario() -> None:
        async with connect(running, ssl=trusted) as socket:
            await socket.recv()
            for n in range(10):
                await socket.send(json.dumps({"op": "ping", "id": n}))
            closed = await refusal(socket)
            assert (closed.code, closed.reason) == (4429, "too many frames; slow down")
        await asyncio.sleep(2.1)  # the connection bucket refills (burst of 2)
        sockets = [await connect(running, ssl=trusted) for _ in range(3)]
        try:
            assert json.loads(await sockets[0].recv())["type"] == "welcome"
            closed = await refusal(sockets[2])
            assert closed.code == 4429 and "too many connections" in closed.reason
        finally:
            for socket in sockets:
                await socket.close()

    asyncio.run(scenario())


def test_two_replicas_each_keep_half_of_a_users_write_limit(stack: Settings) -> None:
    """A user's limit of 2 writes/s (burst 4) over two gateways: 2 each, then 429 on both."""
    limits = {"gateway_replicas": 2, "gateway_user_writes_per_second": 2.0}
    tokens = Tokens(stack)
    headers = tokens.headers("viewer-spread")
    with (
        gateway(stack, "gateway-left", **limits) as left,
        gateway(stack, "gateway-right", **limits) as right,
    ):
        statuses: dict[str, list[int]] = {left.url: [], right.url: []}
        for _ in range(3):
            for running in (left, right):
                answer = httpx.post(
                    f"{running.url}/api/v1/streams/s/chat", json={"text": "hi"}, headers=headers
                )
                statuses[running.url].append(answer.status_code)
    assert statuses[left.url] == [404, 404, 429]  # within its half of the burst: checked on
    assert statuses[right.url] == [404, 404, 429]
