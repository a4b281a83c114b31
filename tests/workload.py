"""A steady workload through a gateway's HTTP API, as clients send it: chat messages, votes and
tips on one stream, each request retried with its Idempotency-Key until the gateway
acknowledges it (a 202), through restarts of any part of the stack."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import httpx
import websockets

from livefold.access.local import load_signing_keys, signing_key_path
from livefold.access.tokens import issue_access_token
from livefold.settings import Settings

STREAMER = "streamer-faults"
RETRYABLE = {502, 503, 504}  # a gateway restarting or waiting for Kafka; anything else is a bug


class Workload:
    def __init__(self, settings: Settings, url: str):
        self.settings = settings
        self.api = httpx.Client(base_url=f"{url}/api/v1", timeout=10)
        self.acked: dict[str, str] = {}  # event id -> kind, as the gateway acknowledged it
        self.retried: set[str] = set()  # event ids sent again after an unanswered request
        self.errors: list[str] = []  # answers that are neither 202 nor retryable
        self._turn = threading.Lock()  # held while a request is in flight
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workload", daemon=True)
        keys = load_signing_keys(signing_key_path(settings))
        self._token = lambda user, roles: issue_access_token(
            keys, user_id=user, roles=roles, issuer=url, audience=settings.auth_audience
        )
        self.stream_id = self.send("stream", "/streams", {"title": "Faults", "category": "Tests"})[
            "stream_id"
        ]
        self._wait(lambda: self.api.get(f"/streams/{self.stream_id}").status_code == 200)
        options = [{"option_id": o, "text": o.upper()} for o in ("a", "b", "c")]
        self.poll_id = self.send(
            "poll",
            f"/streams/{self.stream_id}/polls",
            {
                "question": "Which?",
                "options": options,
                "multi_select": False,
                "allow_vote_change": True,
                "duration_seconds": 3600,
            },
        )["poll_id"]
        self.send("poll", f"/streams/{self.stream_id}/polls/{self.poll_id}/open", {})

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(200)
        self.api.close()

    def paused(self) -> Any:
        """Hold the workload (after its request in flight was answered) while in the block."""
        return self._turn

    def _run(self) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            viewer = f"viewer-{count % 17}"
            stream = f"/streams/{self.stream_id}"
            with self._turn:
                self.send("chat", f"{stream}/chat", {"text": f"message {count}"}, viewer)
            with self._turn:
                vote = {"option_ids": ["abc"[count % 3]]}
                self.send("vote", f"{stream}/polls/{self.poll_id}/votes", vote, viewer)
            with self._turn:
                tip = {"amount_minor": 100 + count, "currency": "EUR", "message": "gg"}
                self.send("tip", f"{stream}/tips", tip, viewer)
            time.sleep(0.02)

    def send(
        self, kind: str, path: str, body: dict[str, Any], user: str = STREAMER
    ) -> dict[str, Any]:
        roles = {"streamer"} if user == STREAMER else {"viewer"}
        key = str(uuid.uuid4())
        unanswered = False
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            headers = {
                "Authorization": f"Bearer {self._token(user, roles)}",
                "Idempotency-Key": key,
            }
            try:
                answer = self.api.post(path, json=body, headers=headers)
            except httpx.TransportError:
                unanswered = True  # it may have reached the log: the same key is sent again
                time.sleep(0.2)
                continue
            if answer.status_code == 202:
                found: dict[str, Any] = answer.json()
                self.acked[found["event_id"]] = kind
                if unanswered:
                    self.retried.add(found["event_id"])
                return found
            if answer.status_code not in RETRYABLE:
                self.errors.append(f"{kind} {path}: {answer.status_code} {answer.text}")
                return {}
            unanswered = unanswered or answer.status_code == 504
            time.sleep(0.2)
        self.errors.append(f"{kind} {path}: no answer within 180 s")
        return {}

    def _wait(self, check: Any) -> None:
        deadline = time.monotonic() + 30
        while not check():
            assert time.monotonic() < deadline, "the stream was not folded in time"
            time.sleep(0.1)


class ChatWatcher:
    """An anonymous viewer's socket on the stream's chat: on any disconnect it connects again
    (to the gateway restarted) and resumes from the last cursor it got, as clients do."""

    def __init__(self, url: str, stream_id: str):
        self.url = url.replace("http", "ws", 1) + "/ws"
        self.stream_id = stream_id
        self.seen: dict[str, str] = {}  # message id -> text, of the messages shown
        self.cursor: str | None = None
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._watch()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, compression=None) as socket:
                    await self._follow(socket)
            except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidStatus):
                self.reconnects += 1
                await asyncio.sleep(0.3)

    async def _follow(self, socket: Any) -> None:
        await socket.recv()  # welcome
        frame: dict[str, Any] = {"op": "subscribe", "stream": self.stream_id, "channels": ["chat"]}
        if self.cursor is not None:
            frame["cursors"] = {"chat": self.cursor}
        await socket.send(json.dumps(frame))
        while not self._stop.is_set():
            try:
                got = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
            except TimeoutError:
                continue
            if got.get("type") not in ("snapshot", "batch") or got.get("channel") != "chat":
                continue
            for notice in got["notices"]:
                if notice["kind"] == "message":
                    self.seen[notice["value"]["message_id"]] = notice["value"]["text"]
            if got["type"] == "snapshot":  # the view's recent messages fill what was missed
                for update in got["updates"]:
                    for message in update["value"].get("recent", ()):
                        self.seen[message["message_id"]] = message["text"]
            self.cursor = got["cursor"]
