"""`/ws`: subscriptions to a stream's channels, fed by this process's hub (protocol in
docs/gateway.md).

Frames reach the socket through uvicorn's sans-I/O WebSocket protocol object (with
`DeflateProtocol`'s offer of compression), written to its transport directly
(`gateway.uvicorn_private.RawSocket`):
the hub hands one pre-encoded frame to thousands of sockets without an await per socket, and a
socket whose buffer is over its bound is dropped instead of awaited. The object comes from the
outermost ASGI layer (`SocketTap`), because the ASGI `send` a Starlette endpoint sees may be
wrapped. A `send` frame is a write: gateway/socket_writes.py. A signed-in socket lives as long
as its token, refreshed by `auth` frames: gateway/socket_tokens.py; and no longer than its
rights: when the accounts log ends its session or account, it closes (4401), and when its
user's roles or the stream's staff change, it loses the moderator channels it no longer may
hear (`recheck`, asked by the hub).

A socket subscribed to any channel of a known stream watches it (unless it subscribed with
`"watching": false`, as OBS overlays do): the gateway's presence log
(streams/presence.py) appends the viewer's join on the first subscription, heartbeats while it
lasts, and the leave when the last subscription to the stream ends or the socket closes. The
viewer is the signed-in user, else an anonymous id of this socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway import metrics, socket_writes
from gateway.auth.backend import AUTH_ERROR, Caller
from gateway.frames import Wire, takes_deflated
from gateway.rights import MODERATOR_CHANNELS
from gateway.runtime import Gateway, gateway_of
from gateway.socket_tokens import TokenWatch
from gateway.state import parse_cursor
from gateway.uvicorn_private import RawSocket
from livefold.access.tokens import AuthError, Principal
from streams import json_input
from streams.catalog import GATEWAY_ONLY, STATE_TOPICS
from streams.presence import anonymous_viewer, device_of

PROTOCOL = "livefold.ws_protocol"
CHANNELS = tuple(name for name in STATE_TOPICS if name not in GATEWAY_ONLY)
MAX_SUBSCRIPTIONS = 100
CLOSE_GRACE = 5.0  # seconds a closing peer has to answer our close frame

# Close codes (4000-4999 are the application's own).
BAD_FRAME = 4400
AUTH_FAILED = 4401
SLOW_CONSUMER = 4408
RATE_LIMITED = 4429
UNAVAILABLE = 4503


class SocketTap:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[PROTOCOL] = RawSocket.behind(send)
        await self.app(scope, receive, send)


class Connection:
    def __init__(
        self,
        gateway: Gateway,
        socket: RawSocket,
        principal: Principal | None,
        websocket: HTTPConnection,
    ):
        self.gateway = gateway
        self.socket = socket
        self.principal = principal
        self.websocket = websocket
        self.user_id = None if principal is None else principal.user_id
        self.viewer_id: str | None = None  # whom presence counts: fixed at the first watch
        self.topics: set[tuple[str, str]] = set()
        self.watching: dict[str, str] = {}  # stream id -> presence session id
        self.writes: set[asyncio.Task[None]] = set()  # socket writes waiting for Kafka
        self.closed = False
        self.close_sent = False
        self.disconnected = False  # the peer's close (or the socket's end) was received
        self.deflated = takes_deflated(socket.conn)  # frames go compressed (gateway.frames)
        self.send_buffer_bytes = gateway.settings.gateway_ws_send_buffer_bytes
        self.token_watch = TokenWatch(
            self._token_expiring,
            self._token_expired,
            gateway.settings.gateway_ws_expired_close_seconds,
        )

    def send_frame(self, wire: Wire) -> int:
        if self.closed:
            return 0
        written = self.socket.offer(
            wire.deflated if self.deflated else wire.plain, self.send_buffer_bytes
        )
        if written < 0:
            metrics.drops.labels("slow").inc()
            self.close(SLOW_CONSUMER, "too slow: the send buffer is full")
            return 0
        return written

    def send(self, document: dict[str, Any]) -> None:
        self.send_frame(Wire(document))

    def close(self, code: int, reason: str) -> None:
        """Send a close frame now, as uvicorn does for `websocket.close` but without awaiting a
        writable socket. It queues behind what the socket still holds (at most about one buffer
        bound, since nothing more is written), so a slow reader still learns why; a peer that
        never answers or never reads is cut off after a grace."""
        if self.closed:
            return
        self.closed = True
        self.token_watch.cancel()
        self.gateway.hub_leave(self)
        if self.socket.close(code, clipped(reason), CLOSE_GRACE):
            self.close_sent = True

    # ------------------------------------------------------------ client frames

    def handle(self, text: str) -> None:
        try:
            frame = json_input.decode(text, "frame")
        except json_input.Refused as refused:  # a send's body at fault gets the route's 422
            if not socket_writes.refuse_text(self, refused):
                self.close(BAD_FRAME, f"bad frame: {refused}")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("op"), str):
            self.close(BAD_FRAME, 'bad frame: expected an object with "op"')
            return
        op = frame["op"]
        if op == "send":  # a write: gateway/socket_writes.py
            size = len(text) if text.isascii() else len(text.encode())
            if (malformed := socket_writes.start(self, frame, size)) is not None:
                self.close(BAD_FRAME, malformed)
            return
        handler = _OPS.get(op)
        if handler is None:
            ops = ", ".join([*_OPS, "send"])
            self.close(BAD_FRAME, f"bad frame: unknown op {op!r}; ops are {ops}")
            return
        handler(self, frame)

    def _auth(self, frame: dict[str, Any]) -> None:
        """Sign in; on a signed-in socket, a refresh: a token for the same user replaces the
        one the socket holds (and its expiry), its moderator channels checked again."""
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            self.close(BAD_FRAME, 'bad frame: auth needs a "token" string')
            return
        try:
            principal = self.gateway.verifier.verify(token)
        except AuthError as error:
            self.close(AUTH_FAILED, str(error))
            return
        held = self.principal
        if held is None:
            if self.topics:
                self.close(BAD_FRAME, "bad frame: auth must come before any subscription")
                return
            self.principal, self.user_id = principal, principal.user_id
            self.gateway.hub.sign_in(self)
        elif principal.user_id != self.user_id:
            reason = f"the token is for another user; this socket stays signed in as {self.user_id}"
            self.send({"type": "error", "op": "auth", "reason": reason})
            return
        else:
            self.principal = principal
        self.send(
            {"type": "authenticated", "user": principal.user_id, "expires_at": principal.expires_at}
        )
        self._drop_moderation_not_allowed("auth")
        if held is None or held.expires_at != principal.expires_at:  # else the watch holds
            self.token_watch.watch(principal.expires_at)

    def recheck(self) -> None:
        """The accounts log or a stream's staff changed for this socket's user: an ended
        session or a deleted account closes it, lost rights end their subscriptions."""
        if self.principal is None or self.closed:
            return
        try:
            self.principal = self.gateway.verifier.recheck(self.principal)
        except AuthError as error:
            metrics.drops.labels("revoked").inc()
            self.close(AUTH_FAILED, str(error))
            return
        self._drop_moderation_not_allowed("subscribe")

    def _drop_moderation_not_allowed(self, op: str) -> None:
        """End the moderator-only subscriptions the socket's holder has lost, each with an error
        frame: `op` "auth" after a refresh, "subscribe" when the rights changed meanwhile."""
        principal = self.principal
        if principal is None:
            return
        for channel, stream_id in sorted(self.topics):
            if channel in MODERATOR_CHANNELS and not self.gateway.rights.can_moderate(
                principal, stream_id
            ):
                self.topics.discard((channel, stream_id))
                self.gateway.hub.unsubscribe(self, channel, stream_id)
                self._stop_watching_if_done(stream_id)
                reason = f"no longer a moderator of the stream: the {channel} subscription ended"
                self.send(
                    {
                        "type": "error",
                        "op": op,
                        "channel": channel,
                        "stream": stream_id,
                        "reason": reason,
                    }
                )

    def _token_expiring(self, in_ms: int) -> None:
        self.send({"type": "expiring", "in_ms": in_ms})

    def _token_expired(self) -> None:
        metrics.drops.labels("expired").inc()
        self.close(AUTH_FAILED, "token expired")

    def _subscribe(self, frame: dict[str, Any]) -> None:
        stream_id, channels = self._topics_of(frame)
        if stream_id is None:
            return
        cursors = frame.get("cursors") or {}
        if not isinstance(cursors, dict):
            self.close(BAD_FRAME, 'bad frame: "cursors" must map channel to cursor')
            return
        watching = frame.get("watching", True)  # false: an overlay or a bot, not a viewer
        if not isinstance(watching, bool):
            self.close(BAD_FRAME, 'bad frame: "watching" must be true or false')
            return
        for channel in channels:
            if channel in MODERATOR_CHANNELS and (
                refusal := self._moderators_only(channel, stream_id)
            ):
                self.send(
                    {
                        "type": "error",
                        "op": "subscribe",
                        "channel": channel,
                        "stream": stream_id,
                        "reason": refusal,
                    }
                )
                continue
            if (channel, stream_id) in self.topics:
                continue
            if len(self.topics) >= MAX_SUBSCRIPTIONS:
                self.send(
                    {
                        "type": "error",
                        "op": "subscribe",
                        "reason": f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection",
                    }
                )
                return
            try:
                cursor = None if channel not in cursors else parse_cursor(str(cursors[channel]))
            except ValueError as error:
                self.close(BAD_FRAME, f"bad frame: {error}")
                return
            # Pending records go out to the others first, so the snapshot and this socket's
            # first batch neither overlap nor leave a gap.
            self.gateway.hub.flush_one((channel, stream_id))
            self.send(self.gateway.hub.snapshot(channel, stream_id, self.user_id, cursor))
            self.gateway.hub.subscribe(self, channel, stream_id)
            self.topics.add((channel, stream_id))
            if watching:
                self._watch(stream_id)

    def _watch(self, stream_id: str) -> None:
        """The socket's first subscription to a known stream starts a viewing session."""
        if stream_id in self.watching or self.gateway.store.view("stream", stream_id) is None:
            return
        if self.viewer_id is None:
            self.viewer_id = self.user_id or anonymous_viewer()
        device = device_of(self.websocket.headers.get("user-agent"))
        self.watching[stream_id] = self.gateway.presence.join(stream_id, self.viewer_id, device)

    def _stop_watching_if_done(self, stream_id: str) -> None:
        if stream_id in self.watching and not any(s == stream_id for _, s in self.topics):
            self.gateway.presence.leave(self.watching.pop(stream_id))

    def _moderators_only(self, channel: str, stream_id: str) -> str | None:
        """Why this socket may not subscribe to a moderator-only channel, if it may not."""
        principal = self.principal
        if principal is not None and principal.expired():
            return 'token expired: send {"op": "auth"} with a fresh token first'
        if principal is None or not self.gateway.rights.can_moderate(principal, stream_id):
            return f"only the stream's moderators may subscribe to {channel}"
        return None

    def _unsubscribe(self, frame: dict[str, Any]) -> None:
        stream_id, channels = self._topics_of(frame)
        if stream_id is None:
            return
        for channel in channels:
            if (channel, stream_id) in self.topics:
                self.topics.discard((channel, stream_id))
                self.gateway.hub.unsubscribe(self, channel, stream_id)
        self._stop_watching_if_done(stream_id)
        self.send({"type": "unsubscribed", "stream": stream_id, "channels": channels})

    def _ping(self, frame: dict[str, Any]) -> None:
        self.send({"type": "pong", "id": frame.get("id")})

    def _topics_of(self, frame: dict[str, Any]) -> tuple[str | None, list[str]]:
        stream_id = frame.get("stream")
        channels = frame.get("channels")
        if not isinstance(stream_id, str) or not 0 < len(stream_id) <= 200:
            self.close(BAD_FRAME, 'bad frame: "stream" must be a stream id')
            return None, []
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, str) and c in CHANNELS for c in channels)
        ):
            self.close(BAD_FRAME, f'bad frame: "channels" must list some of {",".join(CHANNELS)}')
            return None, []
        return stream_id, list(dict.fromkeys(channels))


def clipped(reason: str, limit: int = 123) -> str:
    """A close reason fits in a control frame: at most 123 bytes of UTF-8."""
    data = reason.encode()
    return reason if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "..."


_OPS = {
    "auth": Connection._auth,
    "subscribe": Connection._subscribe,
    "unsubscribe": Connection._unsubscribe,
    "ping": Connection._ping,
}


async def websocket_endpoint(websocket: WebSocket) -> None:
    gateway = gateway_of(websocket)
    socket = websocket.scope.get(PROTOCOL)
    if socket is None:
        # Only uvicorn's sans-I/O protocol lets the hub write without awaiting each socket.
        await websocket.close(1011, "the gateway must run on uvicorn with ws=websockets-sansio")
        return
    await websocket.accept()
    user = websocket.scope.get("user")
    principal = user.principal if isinstance(user, Caller) else None
    connection = Connection(gateway, socket, principal, websocket)
    refusal = websocket.scope.get(AUTH_ERROR)
    if refusal is not None:
        connection.close(AUTH_FAILED, refusal)
    elif (wait := gateway.connection_allowed(websocket, principal)) > 0:
        connection.close(RATE_LIMITED, f"too many connections; retry in {wait:.0f}s")
    elif not gateway.ready:
        connection.close(UNAVAILABLE, "the gateway is still loading state; retry soon")
    else:
        await _serve(gateway, connection, websocket)
    if connection.close_sent and not connection.disconnected:
        await _drain(websocket)


async def _serve(gateway: Gateway, connection: Connection, websocket: WebSocket) -> None:
    metrics.connections.inc()
    try:
        principal = connection.principal
        connection.send(
            {
                "type": "welcome",
                "user": connection.user_id,
                "expires_at": None if principal is None else principal.expires_at,
                "channels": list(CHANNELS),
                "batch_ms": gateway.settings.gateway_ws_batch_ms,
            }
        )
        gateway.hub.sign_in(connection)
        if principal is not None:
            connection.recheck()  # the log may have moved since the handshake's check
            connection.token_watch.watch(principal.expires_at)
        frames = gateway.frame_buckets()
        while not connection.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                connection.disconnected = True
                break
            if frames.take("frames") > 0:
                connection.close(RATE_LIMITED, "too many frames; slow down")
                break
            text = message.get("text")
            if text is None:
                connection.close(BAD_FRAME, "bad frame: frames must be JSON text")
                break
            connection.handle(text)
    finally:
        connection.closed = True
        connection.token_watch.cancel()
        gateway.hub_leave(connection)
        metrics.connections.dec()


async def _drain(websocket: WebSocket) -> None:
    """After our close frame, read until the peer's close arrives (or the grace cuts it)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
