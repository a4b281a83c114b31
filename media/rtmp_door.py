"""The RTMP door of the media process: `rtmp://<host>:<rtmp_port>/live/<stream key>`
(media/rtmp.py). The key alone names the stream (livefold.stream_keys.Directory.admit_key); it
is checked, like WHIP's, before any media is accepted, and a refusal is logged with the key's
fingerprint. An accepted publisher is an ingest of the runtime (media/rtmp_ingest.py), reported
live and ended through the same code path as WHIP's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from livefold.stream_keys import Finished, NotFound, WrongKey, fingerprint
from media import rtmp
from media.directory import Behind
from media.ingest_health import IngestHealth
from media.pool import Busy
from media.rtmp_ingest import IngestReport, RtmpIngest
from media.runtime import Conflict, MediaRuntime

log = logging.getLogger(__name__)


async def serve(runtime: MediaRuntime) -> asyncio.Server:
    settings = runtime.settings
    return await rtmp.serve(
        settings.host,
        settings.rtmp_port,
        lambda key, client, disconnect: publish(runtime, key, client, disconnect),
        settings.media_ingest_timeout_seconds,
    )


async def publish(
    runtime: MediaRuntime, key: str, client: str, disconnect: Callable[[], None]
) -> RtmpIngest:
    try:
        stream_id, entry = await runtime.directory.admit_key(key)
        runtime.claim(stream_id)
    except (NotFound, WrongKey, Finished, Conflict, Busy, Behind) as refused:
        seen = f"key fingerprint {fingerprint(key)}" if key else "no key"
        log.warning("refused an RTMP publisher from %s: %s (%s)", client, refused, seen)
        code = "BadName" if isinstance(refused, WrongKey) else "Denied"
        raise rtmp.Refused(str(refused), f"NetStream.Publish.{code}") from None

    async def flowing(ingest: RtmpIngest, report: IngestReport) -> None:
        await runtime.report(ingest, "rtmp", report)

    async def ended(ingest: RtmpIngest, why: str) -> None:
        await runtime.end(ingest, why, "streamer_ended" if why == "ended" else "ingest_lost")

    async def health(ingest: RtmpIngest, measured: IngestHealth) -> None:
        await runtime.report_health(ingest, measured)

    ingest = RtmpIngest(
        stream_id, entry.streamer, disconnect, runtime.broadcasts, flowing, ended, health,
        runtime.health_meter,
    )  # fmt: skip
    runtime.publishers[stream_id] = ingest
    log.info("RTMP publisher %s of %s connected from %s", ingest.session_id, stream_id, client)
    return ingest
