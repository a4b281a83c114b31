"""A fan-out process (`python -m media.fanout <socket fd>`): the WHEP viewers the media process
hands it, fed with the encoded frames the media process sends it once for all of them.

Forwarding is Python in one event-loop thread, about 300 viewers on one core at 1 Mbps
(docs/media.md), so the media process (ingest, HTTP, the log) runs `media_fanout_processes` of
these, one per core by default, and spreads viewers over them (media/pool.py). Over its socket
(media/wire.py) this process takes `watch` (answer an offer), `leave`, `candidates` (trickle
ICE), `end` (a publisher stopped) and frames; it sends back `keyframe` (a viewer needs one: the
media process asks the publisher, rate-limited there) and `closed` (a viewer's connection
failed). It exits when the socket closes: it never outlives the media process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
from collections.abc import Coroutine
from typing import Any

from aiortc import RTCRtpCodecCapability

from livefold.settings import Settings
from media import aiortc_private
from media.aioice_private import use_host_addresses
from media.peers import STAGE_SLOTS, OfferError, Watcher, add_candidates, on_closed
from media.relay import Stage
from media.wire import Frame, control_message, read_message

log = logging.getLogger("livefold.media.fanout")


def codec_of(fields: dict[str, Any] | None) -> RTCRtpCodecCapability | None:
    return None if fields is None else RTCRtpCodecCapability(**fields)


class FanoutProcess:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.stages: dict[tuple[str, int], Stage] = {}  # (stream, slot) -> its viewers here
        self.codec_names: dict[tuple[str, int], str] = {}
        self.watchers: dict[str, Watcher] = {}
        self.watched: dict[str, str] = {}  # session -> stream
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        while True:
            try:
                message = await read_message(self.reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if isinstance(message, Frame):
                self._on_frame(message)
            else:
                self._spawn(self._on_control(message))

    def _on_frame(self, frame: Frame) -> None:
        stage = self.stages.get((frame.stream_id, frame.slot))
        if stage is None:
            return
        if frame.kind == "video":
            codec_name = self.codec_names[(frame.stream_id, frame.slot)]
            stage.on_video(codec_name, frame.data, frame.timestamp)
        else:
            stage.on_audio(frame.data, frame.timestamp)

    async def _on_control(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "watch":
            await self._watch(message)
        elif op == "leave":
            await self._leave(message["session_id"])
        elif op == "candidates":
            await self._candidates(message)
        elif op == "end":
            for session_id, watched in list(self.watched.items()):
                if watched == message["stream_id"]:
                    await self._leave(session_id)

    async def _watch(self, message: dict[str, Any]) -> None:
        stream_id, session_id = message["stream_id"], message["session_id"]
        video = codec_of(message["video"])
        assert video is not None

        def stage_of(slot: int) -> Stage:
            return self._stage(stream_id, slot, video.name)

        watcher = Watcher(session_id, stage_of, video, codec_of(message["audio"]))
        self.watchers[session_id] = watcher
        self.watched[session_id] = stream_id
        try:
            sdp = await watcher.accept(message["offer"])
        except OfferError as refused:
            await self._leave(session_id)
            self._reply(message, "refused", status=refused.status, reason=str(refused))
            return
        except Exception as failed:
            log.exception("could not answer viewer %s", session_id)
            await self._leave(session_id)
            self._reply(message, "refused", status=500, reason=f"internal error: {failed!r}")
            return

        async def closed(state: str) -> None:
            if await self._leave(session_id):
                self._send("closed", session_id=session_id)

        on_closed(watcher.peer, closed)
        gc.freeze()  # what a join allocated stays: the collector need not scan it again
        self._reply(message, "answer", sdp=sdp)

    async def _candidates(self, message: dict[str, Any]) -> None:
        watcher = self.watchers.get(message["session_id"])
        if watcher is None:
            self._reply(message, "refused", status=404, reason="no such viewing session")
            return
        try:
            await add_candidates(watcher.peer, message["fragment"])
        except OfferError as refused:
            self._reply(message, "refused", status=refused.status, reason=str(refused))
            return
        self._reply(message, "done")

    async def _leave(self, session_id: str) -> bool:
        watcher = self.watchers.pop(session_id, None)
        if watcher is None:
            return False
        await watcher.close()
        stream_id = self.watched.pop(session_id)
        for slot in range(STAGE_SLOTS):
            stage = self.stages.get((stream_id, slot))
            if stage is not None and not stage.viewers:
                del self.stages[(stream_id, slot)]
                del self.codec_names[(stream_id, slot)]
                stage.close()
        return True

    def _stage(self, stream_id: str, slot: int, codec_name: str) -> Stage:
        key = (stream_id, slot)
        stage = self.stages.get(key)
        if stage is None:

            def ask_keyframe() -> None:
                self._send("keyframe", stream_id=stream_id, slot=slot)

            stage = self.stages[key] = Stage(stream_id, ask_keyframe)
            self.codec_names[key] = codec_name
        return stage

    def _reply(self, request: dict[str, Any], op: str, **fields: Any) -> None:
        self._send(op, id=request["id"], **fields)

    def _send(self, op: str, **fields: Any) -> None:
        if not self.writer.is_closing():
            self.writer.write(control_message(op, **fields))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for session_id in list(self.watchers):
            await self._leave(session_id)


async def run(fd: int) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    process = FanoutProcess(reader, writer)
    try:
        await process.serve()
    finally:
        await process.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("aioice", "aiortc"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    use_host_addresses(Settings().media_ice_addresses)
    aiortc_private.fast_clock()
    asyncio.run(run(int(sys.argv[1])))


if __name__ == "__main__":
    main()
