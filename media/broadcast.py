"""Each live ingest's HLS output: the ladder's ffmpeg (media/ladder.py) writing into the
stream's live folder, served by media/hls.py, and the recorder (media/recording.py) mirroring it
to S3. The RTMP door feeds it FLV (media/rtmp_ingest.py)."""

from __future__ import annotations

import asyncio
import logging
import shutil

from livefold.settings import Settings
from livefold.storage import object_store
from media.ladder import Ladder
from media.recording import Recorder, Recording, recording_prefix, salvage

log = logging.getLogger(__name__)


class Broadcast:
    def __init__(self, stream_id: str, ingest_id: str, ladder: Ladder, recorder: Recorder):
        self.stream_id, self.ingest_id = stream_id, ingest_id
        self.folder = ladder.output
        self.ladder, self.recorder = ladder, recorder
        self.started: asyncio.Task[None] = asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        await self.ladder.start()
        self.recorder.start()

    def write(self, data: bytes) -> None:
        """Input for the ladder (kept until its ffmpeg runs)."""
        self.ladder.write(data)

    async def finish(self) -> Recording | None:
        """End the ladder, finish the recording (None if nothing was recorded), and remove
        the live folder."""
        await asyncio.gather(self.started, return_exceptions=True)
        code = await self.ladder.finish()
        if code == 0 or not self.ladder.written:
            self.ladder.log.unlink(missing_ok=True)
        else:
            log.warning(
                "ladder of %s exited with %s (see %s)", self.stream_id, code, self.ladder.log
            )
        try:
            recording: Recording | None = await self.recorder.finish()
        except Exception:
            log.exception("recording of %s/%s not finished", self.stream_id, self.ingest_id)
            recording = None
        await asyncio.to_thread(shutil.rmtree, self.folder, True)
        return recording if recording is not None and recording.segments else None


class Broadcasts:
    """The live broadcasts of this process, one per stream."""

    def __init__(self, settings: Settings):
        self.root = settings.data_dir / "media" / "hls"
        self.bucket = settings.media_recording_bucket
        self.store = object_store(settings)
        self.live: dict[str, Broadcast] = {}  # stream id -> its broadcast

    def open(
        self,
        stream_id: str,
        ingest_id: str,
        input_format: str,
        has_audio: bool,
        source_height: int | None,
    ) -> Broadcast:
        """Start transcoding an ingest, whose input (in `input_format`) is then written."""
        folder = self.root / stream_id / ingest_id
        ladder = Ladder(folder, input_format, has_audio, source_height)
        prefix = recording_prefix(stream_id, ingest_id)
        recorder = Recorder(self.store, self.bucket, prefix, folder, ladder.renditions)
        broadcast = self.live[stream_id] = Broadcast(stream_id, ingest_id, ladder, recorder)
        return broadcast

    async def finish(self, stream_id: str, ingest_id: str) -> Recording | None:
        """The ingest's broadcast ended; its recording, if it had one."""
        broadcast = self.live.get(stream_id)
        if broadcast is None or broadcast.ingest_id != ingest_id:
            return None
        del self.live[stream_id]
        return await broadcast.finish()

    async def salvage(self, stream_id: str, ingest_id: str) -> Recording | None:
        """Finish the recording of an ingest that a killed run of this process left open."""
        folder = self.root / stream_id / ingest_id
        prefix = recording_prefix(stream_id, ingest_id)
        try:
            recording = await salvage(self.store, self.bucket, prefix, folder)
        except Exception:
            log.exception("recording %s could not be salvaged", prefix)
            return None
        await asyncio.to_thread(shutil.rmtree, folder, True)
        return recording
