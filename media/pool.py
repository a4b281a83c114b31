"""The media process's fan-out processes (media/fanout.py): started with it, started again when
one dies, each handed its share of WHEP viewers and fed the frames of the streams they watch.

A viewer goes to the process with the fewest viewers; past `media_max_viewers` in every one
the answer is 503. Each frame is written once per process that has viewers of its stream, not
once per viewer. A process that cannot keep up (its socket holds more than `BACKLOG_BYTES`)
misses frames until the next keyframe, which it then gets (and asks for) like a new viewer. A
process that dies loses its viewers (each gets its `ViewerLeft`; they reconnect over WHEP) and
is started again after a pause that grows with each death.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from media.frames import is_keyframe
from media.peers import Codec, OfferError
from media.wire import Frame, control_message, frame_message, read_message

log = logging.getLogger(__name__)
BACKLOG_BYTES = 8 * 1024 * 1024
ANSWER_SECONDS = 30.0
RESTART_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)


class Busy(RuntimeError):
    """Too many sessions in this process; retry after `retry_after` seconds."""

    retry_after = 5


def fanout_count(configured: int) -> int:
    return configured if configured > 0 else (os.cpu_count() or 1)


def codec_fields(codec: Codec | None) -> dict[str, Any] | None:
    if codec is None:
        return None
    return {
        "mimeType": codec.mimeType,
        "clockRate": codec.clockRate,
        "channels": codec.channels,
        "parameters": dict(codec.parameters),
    }


@dataclass
class FanoutWorker:
    index: int
    process: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader
    viewers: dict[str, str] = field(default_factory=dict)  # session -> stream
    watching: Counter[str] = field(default_factory=Counter)  # stream -> viewers here
    lagging: set[tuple[str, int]] = field(default_factory=set)  # (stream, slot) to resync
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    def send(self, message: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(message)


class FanoutPool:
    def __init__(
        self,
        count: int,
        max_viewers: int,
        on_keyframe: Callable[[str, int], None],
        on_lost: Callable[[str], Awaitable[object]],
    ):
        self.count = count
        self.max_viewers = max_viewers
        self.workers: list[FanoutWorker | None] = [None] * count
        self._on_keyframe = on_keyframe
        self._on_lost = on_lost  # a viewer gone with its process, or whose connection failed
        self._ids = itertools.count()
        self._supervisors: list[asyncio.Task[None]] = []
        self._started = [asyncio.Event() for _ in range(count)]
        self._stopping = False

    async def start(self) -> None:
        for index in range(self.count):
            self._supervisors.append(asyncio.ensure_future(self._supervise(index)))
        await asyncio.gather(*(started.wait() for started in self._started))

    async def stop(self) -> None:
        self._stopping = True
        for worker in self.workers:
            if worker is not None:
                worker.writer.close()  # it exits when its socket closes
        for task in self._supervisors:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 5.0)

    @property
    def alive(self) -> list[FanoutWorker]:
        return [worker for worker in self.workers if worker is not None]

    def viewers(self) -> int:
        return sum(len(worker.viewers) for worker in self.alive)

    async def watch(
        self, session_id: str, stream_id: str, offer: str, video: Codec, audio: Codec | None
    ) -> str:
        """The answer of the least busy process to a viewer's offer."""
        candidates = [w for w in self.alive if len(w.viewers) < self.max_viewers]
        if not candidates:
            raise Busy(f"every fan-out process has {self.max_viewers} viewers, its most")
        worker = min(candidates, key=lambda w: len(w.viewers))
        worker.viewers[session_id] = stream_id
        worker.watching[stream_id] += 1
        reply = await self._request(
            worker,
            "watch",
            session_id=session_id,
            stream_id=stream_id,
            offer=offer,
            video=codec_fields(video),
            audio=codec_fields(audio),
        )
        if reply["op"] != "answer":
            self._forget(worker, session_id)
            raise OfferError(reply["status"], reply["reason"])
        return str(reply["sdp"])

    async def candidates(self, session_id: str, fragment: str) -> None:
        worker = self._worker_of(session_id)
        if worker is None:
            raise LookupError(f"no viewing session {session_id!r}")
        reply = await self._request(worker, "candidates", session_id=session_id, fragment=fragment)
        if reply["op"] != "done":
            raise OfferError(reply["status"], reply["reason"])

    async def leave(self, session_id: str) -> bool:
        worker = self._worker_of(session_id)
        if worker is None:
            return False
        self._forget(worker, session_id)
        worker.send(control_message("leave", session_id=session_id))
        return True

    def end(self, stream_id: str) -> None:
        for worker in self.alive:
            worker.send(control_message("end", stream_id=stream_id))

    def feed(
        self, stream_id: str, slot: int, codec_name: str, kind: str, frame: bytes, ts: int
    ) -> None:
        message: bytes | None = None
        for worker in self.alive:
            if not worker.watching[stream_id]:
                continue
            key = (stream_id, slot)
            if kind == "video" and key in worker.lagging:
                if not is_keyframe(codec_name, frame):
                    continue
                worker.lagging.discard(key)
            if worker.writer.transport.get_write_buffer_size() > BACKLOG_BYTES:
                if kind == "video":
                    worker.lagging.add(key)
                    self._on_keyframe(stream_id, slot)
                continue
            message = message or frame_message(kind, stream_id, slot, ts, frame)
            worker.send(message)

    def _worker_of(self, session_id: str) -> FanoutWorker | None:
        return next((w for w in self.alive if session_id in w.viewers), None)

    def _forget(self, worker: FanoutWorker, session_id: str) -> None:
        stream_id = worker.viewers.pop(session_id, None)
        if stream_id is not None:
            worker.watching[stream_id] -= 1
            if worker.watching[stream_id] <= 0:
                del worker.watching[stream_id]

    async def _request(self, worker: FanoutWorker, op: str, **fields: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        reply = worker.pending[request_id] = asyncio.get_running_loop().create_future()
        worker.send(control_message(op, id=request_id, **fields))
        try:
            return await asyncio.wait_for(reply, ANSWER_SECONDS)
        except (TimeoutError, ConnectionError):
            raise Busy(f"fan-out process {worker.index} did not answer") from None
        finally:
            worker.pending.pop(request_id, None)

    async def _supervise(self, index: int) -> None:
        for deaths in itertools.count():
            if self._stopping:
                return
            worker = await self._spawn(index)
            self.workers[index] = worker
            self._started[index].set()
            await self._serve(worker)
            self.workers[index] = None
            code = await worker.process.wait()
            for request in worker.pending.values():
                if not request.done():
                    request.set_exception(ConnectionError("fan-out process gone"))
            for session_id in list(worker.viewers):
                self._forget(worker, session_id)
                await self._on_lost(session_id)
            if self._stopping:
                return
            pause = RESTART_PAUSES[min(deaths, len(RESTART_PAUSES) - 1)]
            log.warning("fan-out process %d exited (%s); starting it in %ss", index, code, pause)
            await asyncio.sleep(pause)

    async def _spawn(self, index: int) -> FanoutWorker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "media.fanout",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        log.info("fan-out process %d started (pid %d)", index, process.pid)
        return FanoutWorker(index, process, writer, reader)

    async def _serve(self, worker: FanoutWorker) -> None:
        """Read what the process says until its socket closes."""
        while True:
            try:
                message = await read_message(worker.reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                worker.writer.close()
                return
            if isinstance(message, Frame):
                continue
            if "id" in message:
                reply = worker.pending.get(message["id"])
                if reply is not None and not reply.done():
                    reply.set_result(message)
            elif message["op"] == "keyframe":
                self._on_keyframe(message["stream_id"], message["slot"])
            elif message["op"] == "closed":
                session_id = message["session_id"]
                if session_id in worker.viewers:
                    self._forget(worker, session_id)
                    await self._on_lost(session_id)
