"""A live gateway for the SDK tests, and what a person and a network do around an SDK.

`live_gateway` serves the gateway app with livefold's authorization server mounted at its root
(`gateway.app.create_app(..., extra_routes=gateway.auth.service.routes(...))`, the seam the app
offers for it), on uvicorn with the sans-I/O WebSocket protocol like `python -m gateway`, in a
thread; the stack it is given is the suite's `folded` one (tests/conftest.py), whose fold
worker folds what it appends. One URL serves REST, `/ws`, `/oauth/*` and `/api/v1/accounts`, as
in production.

`person_signing_in` is the browser: it opens the authorization URL, fills in the sign-in form
and follows the redirect to the app's loopback receiver. `TcpRelay` stands where a load
balancer would and can cut or freeze the connections through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import uvicorn
from confluent_kafka import KafkaException

from gateway.app import create_app
from gateway.auth.admin import change_role
from gateway.auth.service import AuthService, routes
from infra.service import free_port
from livefold.settings import Settings

PASSWORD = "correct horse battery staple"
_FORM = re.compile(r'<form method="post" action="([^"]+)"')


@dataclass(frozen=True)
class LiveGateway:
    url: str
    settings: Settings
    auth: AuthService


@contextlib.contextmanager
def live_gateway(stack: Settings, data_dir: Path, timeout: float = 90.0) -> Iterator[LiveGateway]:
    settings = stack.with_secrets().model_copy(
        update={
            "data_dir": data_dir,
            "gateway_port": free_port(),
            "public_url": None,
            "gateway_user_writes_per_second": 200.0,
        }
    )
    auth = AuthService(settings)
    app = create_app(settings, auth.verifier, routes(settings, auth))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.gateway_port,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            lifespan="on",
            log_level="warning",
            timeout_graceful_shutdown=3,
        )
    )
    thread = threading.Thread(target=server.run, name="sdk-gateway", daemon=True)
    start_patiently(auth)
    try:
        thread.start()
        url = f"http://{settings.host}:{settings.gateway_port}"
        wait_healthy(url, thread, timeout)
        try:
            yield LiveGateway(url, settings, auth)
        finally:
            server.should_exit = True
            thread.join(30)
    finally:
        auth.stop()


def start_patiently(auth: AuthService, patience: float = 30.0) -> None:
    """Start the accounts follower; a broker that just started may not lead its partitions
    yet (a follower retries that only until its timeout)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            auth.start()
            return
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_healthy(url: str, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not thread.is_alive():
            raise RuntimeError(f"the gateway at {url} stopped before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway at {url} was not ready in {timeout:.0f}s")
        time.sleep(0.1)


def make_streamer(live: LiveGateway, user_id: str, timeout: float = 15.0) -> None:
    """What an operator does for a new streamer (`python -m gateway.auth.admin grant`); returns
    once the authorization server knows, so tokens issued from now on carry the role."""
    change_role(live.settings, "grant", user_id, "streamer")
    deadline = time.monotonic() + timeout
    while True:
        account = live.auth.directory.account(user_id)
        if account is not None and "streamer" in account.global_roles():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the streamer role of {user_id} did not reach the auth server")
        time.sleep(0.05)


def person_signing_in(username: str, password: str = PASSWORD) -> Callable[[str], None]:
    """A browser with a person at it: given the authorization URL, they sign in and the
    browser follows the redirect to wherever the app listens."""

    def browse(url: str) -> None:
        with httpx.Client(timeout=30) as browser:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            found = _FORM.search(page.text)
            assert found is not None, "no sign-in form on the authorization page"
            action = urljoin(url, html.unescape(found.group(1)))
            answer = browser.post(action, data={"username": username, "password": password})
            assert answer.status_code == 302, answer.text
            landing = browser.get(answer.headers["location"])
            assert landing.status_code == 200, landing.text

    return browse


class TcpRelay:
    """Forwards TCP connections to a target; `cut()` drops them (and refuses new ones until
    `heal()`), `freeze()` stops moving their bytes while keeping them open (a dead link),
    `lose_next_answer()` drops the connection that carries the target's next answer."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.accepting = True
        self.losing = False
        self.answers_lost = 0
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, asyncio.Event]] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self.url = ""

    async def __aenter__(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        flowing = asyncio.Event()
        flowing.set()
        self._links.append((writer, up_writer, flowing))
        await asyncio.gather(
            self._pipe(reader, up_writer, flowing),
            self._pipe(up_reader, writer, flowing, answers=True),
            return_exceptions=True,
        )

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        flowing: asyncio.Event,
        answers: bool = False,
    ) -> None:
        try:
            while data := await reader.read(65536):
                await flowing.wait()
                if answers and self.losing:
                    self.losing = False
                    self.answers_lost += 1
                    return  # the answer dies with the connection
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    def cut(self) -> None:
        self.accepting = False
        for client, upstream, flowing in self._links:
            client.transport.abort()
            upstream.transport.abort()
            flowing.set()  # a frozen pipe wakes up to find its sockets gone
        self._links.clear()

    def lose_next_answer(self) -> None:
        self.losing = True

    def heal(self) -> None:
        self.accepting = True

    def freeze(self) -> None:
        for _, _, flowing in self._links:
            flowing.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
