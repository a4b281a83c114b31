"""A live subscription to the gateway's `/ws`: subscribe to streams' channels and iterate
their frames; the connection is kept alive with heartbeats and comes back by itself.

    async with Subscription("https://live.example.org", auth=session) as live:
        await live.subscribe(stream_id, ["chat", "polls"])
        async for frame in live:
            ...

After a drop (network, gateway restart, a silent peer caught by the heartbeat, a 4408 for a
slow reader, 4429, 4503) it reconnects with backoff, signs in again (refreshing the token
once if the gateway refused it) and subscribes again from the last cursor it saw per
(stream, channel): the gateway sends what was missed, then live frames. A bad frame (4400), a
token refused after a refresh (4401) or running out of attempts ends the iteration with
`SubscriptionClosed`.

A socket lives as long as its token: before it expires the gateway says so (`expiring`) and
the subscription signs the same socket in again with a fresh token, from `token_provider` (a
function, plain or async, returning an access token; it is also asked on every connect) or
else from a refreshable `auth` (a `Session`). Subscriptions and writes carry on untouched; a
moderator-only channel whose right was lost meanwhile ends with a `Refusal`.

The same socket carries the interactive writes (`send`, `send_chat`, `react`, `vote`,
`answer_quiz`): each returns once the event is in Kafka; a write a fold refuses later comes
back as a `Rejected` frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from livefold_sdk.api import option_ids_list
from livefold_sdk.errors import OAuthError, SubscriptionClosed, TransportError
from livefold_sdk.frames import Batch, Frame, Reconnected, Refusal, Snapshot, parse
from livefold_sdk.socket_writes import PendingWrites, write_frame
from livefold_sdk.transport import USER_AGENT, Accepted, Auth

BAD_FRAME, AUTH_FAILED, RATE_LIMITED = 4400, 4401, 4429
FATAL = frozenset({BAD_FRAME, 1002, 1003, 1007, 1008, 1009})
FRAMES_PER_SECOND = 15  # below the gateway's per-connection frame limit
_RETRY_IN = re.compile(r"retry in (\d+)s")
log = logging.getLogger("livefold_sdk")

TokenProvider = Callable[[], str | Awaitable[str]]


class _End:
    """Put on the queue when the subscription ends (closed by us, or for good)."""

    def __init__(self, error: SubscriptionClosed | None):
        self.error = error


def ws_url(url: str) -> str:
    if url.startswith(("ws://", "wss://")):
        return url
    if url.startswith(("http://", "https://")):
        return "ws" + url.removeprefix("http").rstrip("/") + "/ws"
    raise ValueError(f"not a gateway URL: {url!r} (http(s):// or ws(s)://)")


class Subscription:
    def __init__(
        self,
        url: str,
        *,
        auth: Auth = None,
        token_provider: TokenProvider | None = None,
        heartbeat: float = 15.0,
        heartbeat_timeout: float = 10.0,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        max_attempts: int | None = None,
        open_timeout: float = 10.0,
        max_frame_bytes: int = 16 * 2**20,
        queue_size: int = 10_000,
    ):
        self.url = ws_url(url)
        self.auth = auth
        self.token_provider = token_provider
        self.heartbeat = heartbeat
        self.heartbeat_timeout = heartbeat_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.open_timeout = open_timeout
        self.max_frame_bytes = max_frame_bytes
        self.topics: dict[str, list[str]] = {}  # stream -> channels
        self.cursors: dict[tuple[str, str], str] = {}  # (stream, channel) -> last cursor seen
        self.user: str | None = None
        self.expires_at: int | None = None  # when the socket's token expires (epoch seconds)
        self.reconnects = 0
        self.queue_size = queue_size
        self._queue: asyncio.Queue[Frame | _End] = asyncio.Queue()
        self._room = asyncio.Event()
        self._done = asyncio.Event()
        self._socket: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._ended: SubscriptionClosed | None = None
        self._closing = False
        self._pongs: dict[int, asyncio.Future[None]] = {}
        self._ping_id = 0
        self._writes = PendingWrites()
        self._token_held: str | None = None
        self._refresher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ public

    async def connect(self) -> None:
        """Connect (retrying like a reconnect); raise SubscriptionClosed if that fails for good."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())
        ended = asyncio.ensure_future(self._done.wait())
        up = asyncio.ensure_future(self._up.wait())
        await asyncio.wait({ended, up}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        up.cancel()
        if self._ended is not None:
            raise self._ended

    async def subscribe(
        self, stream_id: str, channels: list[str], cursors: dict[str, str] | None = None
    ) -> None:
        """Follow a stream's channels (from `cursors`, channel -> cursor, if given)."""
        wanted = self.topics.setdefault(stream_id, [])
        wanted += [channel for channel in channels if channel not in wanted]
        for channel, cursor in (cursors or {}).items():
            self.cursors[(stream_id, channel)] = cursor
        await self._send_quietly(self._subscribe_frame(stream_id, list(channels)))

    async def unsubscribe(self, stream_id: str, channels: list[str]) -> None:
        left = [c for c in self.topics.get(stream_id, []) if c not in channels]
        if left:
            self.topics[stream_id] = left
        else:
            self.topics.pop(stream_id, None)
        for channel in channels:
            self.cursors.pop((stream_id, channel), None)
        frame = {"op": "unsubscribe", "stream": stream_id, "channels": channels}
        await self._send_quietly(frame)

    async def send(
        self,
        write: str,
        stream_id: str,
        body: Mapping[str, Any] | None = None,
        *,
        ref: str | None = None,
        timeout: float | None = 30.0,
    ) -> Accepted:
        """One write over the socket (`write` is one of `socket_writes.WRITES`; path ids such as
        `poll_id` go in `body`), answered once Kafka has the event. `ref` is its idempotency
        key (one is made): a write whose connection drops is sent again after the reconnect
        and makes the same event. Raises what REST would (`InvalidRequest` with its fields,
        `Unauthorized` when not signed in, `RateLimited`...), TimeoutError or
        SubscriptionClosed."""
        if self._done.is_set():
            raise self._ended or SubscriptionClosed(None, "closed by the client")
        frame = write_frame(ref or uuid.uuid4().hex, write, stream_id, body or {})
        answer = self._writes.add(frame)
        try:
            await self._send_quietly(frame)  # not connected: the next connection sends it
            return await asyncio.wait_for(answer, timeout)
        finally:
            self._writes.forget(frame["id"])

    async def send_chat(
        self, stream_id: str, text: str, *, reply_to: str | None = None, ref: str | None = None
    ) -> Accepted:
        body = {"text": text} if reply_to is None else {"text": text, "reply_to": reply_to}
        return await self.send("chat.send", stream_id, body, ref=ref)

    async def react(
        self, stream_id: str, kind: str, count: int = 1, *, ref: str | None = None
    ) -> Accepted:
        return await self.send("reactions.send", stream_id, {"kind": kind, "count": count}, ref=ref)

    async def vote(
        self,
        stream_id: str,
        poll_id: str,
        option_ids: str | Sequence[str],
        *,
        ref: str | None = None,
    ) -> Accepted:
        body = {"poll_id": poll_id, "option_ids": option_ids_list(option_ids)}
        return await self.send("polls.vote", stream_id, body, ref=ref)

    async def answer_quiz(
        self,
        stream_id: str,
        quiz_id: str,
        question_id: str,
        option_id: str,
        *,
        ref: str | None = None,
    ) -> Accepted:
        body = {"quiz_id": quiz_id, "question_id": question_id, "option_id": option_id}
        return await self.send("quizzes.answer", stream_id, body, ref=ref)

    async def next(self, timeout: float | None = None) -> Frame:
        """The next frame (TimeoutError after `timeout` seconds)."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        self._room.set()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends too
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Frame:
        return await self.next()

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._finish(None)

    async def __aenter__(self) -> Subscription:
        await self.connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ the connection loop

    async def _run(self) -> None:
        failures, refresh, was_up = 0, False, False
        last_code: int | None = None
        last_reason = ""
        while not self._closing:
            code, reason, delay = None, "", None
            try:
                async with connect(
                    self.url,
                    open_timeout=self.open_timeout,
                    ping_interval=None,  # the heartbeat is the protocol's own ping op
                    compression="deflate",  # the gateway compresses each frame once for all
                    max_size=self.max_frame_bytes,
                    close_timeout=2.0,  # a dead link must not hold close() for long
                    user_agent_header=USER_AGENT,
                ) as socket:
                    await self._open(socket, refresh)
                    if was_up:
                        self.reconnects += 1
                        await self._deliver(Reconnected(failures + 1, last_code, last_reason))
                    failures, refresh, was_up = 0, False, True
                    self._up.set()
                    await self._pump(socket)
            except ConnectionClosed as closed:
                code = None if closed.rcvd is None else closed.rcvd.code
                reason = "connection lost" if closed.rcvd is None else closed.rcvd.reason
            except (OSError, TimeoutError, InvalidHandshake) as error:
                reason = f"cannot connect: {error!r}"
            except TransportError as error:  # the authorization server is out of reach
                reason = f"no token: {error}"
            except (InvalidURI, OAuthError) as error:  # a bad URL; a refresh refused: sign in
                code = AUTH_FAILED if isinstance(error, OAuthError) else None
                self._finish(SubscriptionClosed(code, f"cannot go on: {error}"))
                return
            except Exception as error:
                log.exception("the subscription to %s failed", self.url)
                self._finish(SubscriptionClosed(None, f"failed: {error!r}"))
                return
            finally:
                self._socket = None
                self._up.clear()
                self._fail_pings()
                if self._refresher is not None:
                    self._refresher.cancel()
            if self._closing:
                return
            failures += 1
            if code in FATAL:
                self._finish(SubscriptionClosed(code, reason))
                return
            if code == AUTH_FAILED:
                if refresh or not self._refreshable():
                    self._finish(SubscriptionClosed(code, reason))
                    return
                refresh, delay = True, 0.0
            if self.max_attempts is not None and failures >= self.max_attempts:
                gave_up = f"gave up after {failures} attempts: {reason}"
                self._finish(SubscriptionClosed(code, gave_up))
                return
            last_code, last_reason = code, reason
            await asyncio.sleep(self._delay(failures, code, reason) if delay is None else delay)

    def _delay(self, attempts: int, code: int | None, reason: str) -> float:
        wait = min(self.max_backoff, self.backoff * 2.0 ** max(attempts - 1, 0))
        if code == RATE_LIMITED and (told := _RETRY_IN.search(reason)):
            wait = max(wait, float(told.group(1)))
        return wait * random.uniform(0.8, 1.2)  # jitter, not a secret

    async def _open(self, socket: ClientConnection, refresh: bool) -> None:
        """Welcome, sign in, subscribe again from the cursors held."""
        welcome = await self._expect(socket, "welcome")
        self.user, self.expires_at = welcome.get("user"), welcome.get("expires_at")
        token = await self._token(refresh)
        if token is not None:
            await socket.send(json.dumps({"op": "auth", "token": token}))
            authenticated = await self._expect(socket, "authenticated")
            self.user, self.expires_at = authenticated.get("user"), authenticated.get("expires_at")
        self._token_held = token
        self._socket = socket
        again = [
            self._subscribe_frame(stream, channels) for stream, channels in self.topics.items()
        ]
        for sent, frame in enumerate([*again, *self._writes.frames()]):
            if sent >= FRAMES_PER_SECOND:
                await asyncio.sleep(1 / FRAMES_PER_SECOND)
            await socket.send(json.dumps(frame))

    async def _expect(self, socket: ClientConnection, kind: str) -> dict[str, Any]:
        while True:
            document = json.loads(await asyncio.wait_for(socket.recv(), self.open_timeout))
            if document.get("type") == kind:
                return dict(document)
            if document.get("type") == "error":
                await self._deliver(parse(document) or Refusal("", str(document)))

    async def _pump(self, socket: ClientConnection) -> None:
        beat = asyncio.get_running_loop().create_task(self._beat(socket))
        try:
            while True:
                frame = self._take(json.loads(await socket.recv()))
                if frame is not None:
                    await self._deliver(frame)
        finally:
            beat.cancel()

    async def _deliver(self, frame: Frame) -> None:
        # A reader that falls behind stops the pump, so the gateway sees a slow client.
        while self._queue.qsize() >= self.queue_size:
            self._room.clear()
            await self._room.wait()
        self._queue.put_nowait(frame)

    def _take(self, document: dict[str, Any]) -> Frame | None:
        if document.get("type") == "expiring":
            self._refresh_soon()
            return None
        if document.get("type") == "authenticated":  # a refresh, taken
            self.user, self.expires_at = document.get("user"), document.get("expires_at")
            return None
        if document.get("type") == "pong":
            waiter = self._pongs.pop(document.get("id") or 0, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return None
        if self._writes.take(document):
            return None
        frame = parse(document)
        if isinstance(frame, Snapshot | Batch) and frame.cursor:
            self.cursors[(frame.stream, frame.channel)] = frame.cursor
        if isinstance(frame, Refusal) and frame.op in ("subscribe", "auth") and frame.stream:
            # Not allowed now (or no longer, after a refresh), not after a reconnect: stop asking.
            wanted = self.topics.get(frame.stream, [])
            if frame.channel in wanted:
                wanted.remove(frame.channel)
        return frame

    async def _beat(self, socket: ClientConnection) -> None:
        """A ping op every `heartbeat` seconds; no pong in time means the link is dead."""
        while True:
            await asyncio.sleep(self.heartbeat)
            self._ping_id += 1
            waiter = asyncio.get_running_loop().create_future()
            self._pongs[self._ping_id] = waiter
            try:
                await socket.send(json.dumps({"op": "ping", "id": self._ping_id}))
                await asyncio.wait_for(waiter, self.heartbeat_timeout)
            except (TimeoutError, ConnectionClosed):
                socket.transport.abort()  # the pump sees the drop and we reconnect
                return

    # ------------------------------------------------------------ helpers

    def _subscribe_frame(self, stream_id: str, channels: list[str]) -> dict[str, Any]:
        frame: dict[str, Any] = {"op": "subscribe", "stream": stream_id, "channels": channels}
        held = self.cursors
        cursors = {c: held[(stream_id, c)] for c in channels if (stream_id, c) in held}
        if cursors:
            frame["cursors"] = cursors
        return frame

    async def _send_quietly(self, frame: dict[str, Any]) -> None:
        """Send now if connected; otherwise the next connection sends it (from `topics`)."""
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps(frame))

    def _refreshable(self) -> bool:
        if self.token_provider is not None:
            return True
        return self.auth is not None and not isinstance(self.auth, str) and self.auth.refreshable

    async def _token(self, refresh: bool) -> str | None:
        if self.token_provider is not None:
            return await self._provided()
        if self.auth is None or isinstance(self.auth, str):
            return self.auth
        return await self.auth.aaccess_token(force_refresh=refresh)

    async def _provided(self) -> str:
        assert self.token_provider is not None
        try:
            token = self.token_provider()
            if inspect.isawaitable(token):
                token = await token
        except Exception as error:  # e.g. the app's back end is out of reach: try again later
            raise TransportError(f"the token provider failed: {error!r}") from error
        if not isinstance(token, str) or not token:
            raise TypeError(f"the token provider must return an access token, not {token!r}")
        return token

    def _refresh_soon(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        """Sign the socket in again with a fresh token before its own expires. If none comes,
        the gateway closes the socket at expiry (4401) and the reconnect asks again."""
        socket = self._socket
        try:
            token = await self._fresh_token()
        except (TransportError, OAuthError, TypeError) as error:
            log.warning("no fresh token before the socket's expires: %s", error)
            return
        if socket is None or socket is not self._socket or token in (None, self._token_held):
            return
        self._token_held = token
        with contextlib.suppress(ConnectionClosed):
            await socket.send(json.dumps({"op": "auth", "token": token}))

    async def _fresh_token(self) -> str | None:
        if self.token_provider is not None:
            return await self._provided()
        if self.auth is None or isinstance(self.auth, str) or not self.auth.refreshable:
            return None
        token = await self.auth.aaccess_token()
        if token == self._token_held:  # the session has not refreshed yet: now it must
            token = await self.auth.aaccess_token(force_refresh=True)
        return token

    def _fail_pings(self) -> None:
        for waiter in self._pongs.values():
            waiter.cancel()
        self._pongs.clear()

    def _finish(self, error: SubscriptionClosed | None) -> None:
        if self._done.is_set():
            return
        self._ended = error
        self._done.set()
        self._writes.fail(error or SubscriptionClosed(None, "closed by the client"))
        self._queue.put_nowait(_End(error))
