"""What one HTTP client may make a real `python -m gateway` hold, and what it may learn or
fake: request heads are bounded (431), a request must arrive whole in time (408, then the
connection closes), X-Forwarded-For is believed from no one by default, `/metrics` answers
its scraper only, and the access log never prints a socket's `access_token`."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from livefold.settings import Settings
from tests.gateways import Running, Tokens, eventually, gateway, ws_url

READ_SECONDS = 3.0  # short for the test; loaded machines lag the loop by a second at times
# asyncio's timers may fire up to a clock tick early, and the client's clock starts first.
NAME = "gateway-serving"


@pytest.fixture(scope="module")
def served(stack: Settings) -> Iterator[Running]:
    with gateway(
        stack,
        NAME,
        gateway_request_read_seconds=READ_SECONDS,
        gateway_ip_writes_per_second=1.0,  # a burst of 2
        gateway_access_log=True,
    ) as running:
        yield running


def exchange(running: Running, data: bytes, patience: float = 10.0) -> tuple[bytes, float]:
    """Send `data` on a fresh connection; what comes back until the gateway closes it, and
    how many seconds that took (TimeoutError if it stays open past `patience`)."""
    address = urlsplit(running.url)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=patience) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65_536):
            received += chunk
    return received, time.monotonic() - started


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_a_request_head_over_the_size_limit_is_refused_with_431(served: Running) -> None:
    big = b"x" * (served.settings.gateway_max_header_bytes + 8_000)
    head = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + big + b"\r\n\r\n"
    response, _ = exchange(served, head)
    assert status_of(response) == 431, response[:200]
    assert b"request head is over" in response


def test_a_request_with_too_many_header_fields_is_refused_with_431(served: Running) -> None:
    fields = b"".join(b"X-Field-%d: 1\r\n" % n for n in range(served.settings.gateway_max_headers))
    head = b"GET /health HTTP/1.1\r\nHost: gateway\r\n" + fields + b"\r\n"
    response, _ = exchange(served, head)
    assert status_of(response) == 431, response[:200]
    assert b"header fields" in response


def test_a_half_sent_head_or_body_is_closed_after_the_read_deadline(served: Running) -> None:
    half_head = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Slow: "
    response, took = exchange(served, half_head)
    assert status_of(response) == 408 and READ_SECONDS - 0.1 <= took < READ_SECONDS + 5, took
    half_body = (
        b"POST /api/v1/accounts HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n{"
    )
    response, took = exchange(served, half_body)
    assert status_of(response) == 408 and READ_SECONDS - 0.1 <= took < READ_SECONDS + 5, took
    whole = b"GET /health HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"
    assert status_of(exchange(served, whole)[0]) == 200


def test_a_request_answered_before_its_body_came_gets_no_second_answer(served: Running) -> None:
    """A write without a token is refused (401) before its body is read; when the rest of the
    body never comes, the connection closes at the deadline, with no 408 after the 401."""
    half_body = (
        b"POST /api/v1/streams/any/chat HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
    )
    response, took = exchange(served, half_body)
    assert status_of(response) == 401 and response.count(b"HTTP/1.1 ") == 1, response
    assert took < READ_SECONDS + 5, took


def test_x_forwarded_for_is_not_believed_by_default(served: Running) -> None:
    """The per-address write limit counts the connection's address, whatever the header says."""
    tokens = Tokens(served.settings)
    answers = [
        httpx.post(
            f"{served.url}/api/v1/streams/no-such-stream/chat",
            json={"text": "hi"},
            headers={**tokens.headers(f"user-{n}"), "X-Forwarded-For": f"203.0.113.{n}"},
        )
        for n in range(3)
    ]
    assert [answer.status_code for answer in answers] == [404, 404, 429], answers[-1].text
    assert "too many writes from this address" in answers[-1].json()["reason"]


def test_metrics_answer_the_scraper_token_only(served: Running) -> None:
    url = f"{served.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer guessed"}).status_code == 401
    token = served.settings.secret("gateway_metrics_token")
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and "livefold_gateway_ws_connections" in scraped.text


def test_the_access_log_never_prints_an_access_token(served: Running) -> None:
    assert httpx.get(f"{served.url}/health?access_token=secret-http-token").status_code == 200

    async def handshake() -> None:
        url = ws_url(served, "access_token=secret-socket-token")
        async with websockets.connect(url, compression=None) as socket_:
            await socket_.recv()  # closed: the token is no token

    with pytest.raises(websockets.ConnectionClosed):
        asyncio.run(handshake())
    log = served.settings.data_dir / "logs" / f"{NAME}.log"
    eventually(lambda: log.read_text().count("access_token=[redacted]") >= 2)
    assert "secret-" not in log.read_text()


def test_trusted_proxies_are_addresses_or_networks_never_everyone() -> None:
    trusted = Settings(gateway_trusted_proxies=("10.0.0.5", "10.1.0.0/16", "::1"))
    assert trusted.gateway_trusted_proxies == ("10.0.0.5", "10.1.0.0/16", "::1")
    with pytest.raises(ValueError, match="is not an IP address or network"):
        Settings(gateway_trusted_proxies=("*",))
