"""WHIP/WHEP benchmarks (docs/media.md, "Benchmarks"), with real aiortc peers in this process
and the media service in its own processes:

- `whip_whep_latency`: glass to glass over loopback. A publisher paints its send time (ms, as
  32 black/white bars, and their complement below) into each 320x240 frame; a viewer decodes
  the frame and reads the time back. Through the media service (WHIP in, one fan-out process,
  WHEP out) and, side by side in the same run, two aiortc peers connected directly (the
  issue's baseline: p50 37 ms).
- `whep_viewers`: the media service's CPU (ingest process and fan-out processes, from
  /proc/<pid>/stat) per viewer-second while N viewers (`LIVEFOLD_BENCH_WHEP_VIEWERS`) watch
  one VP8 stream without re-encoding; half its picture is fresh noise, so the encoder sends its
  whole bitrate (reported as `video_kbps_per_viewer`). Most viewers count the frames aiortc
  reassembles without decoding them (cheap for the harness) and check their RTP timestamps
  only grow; `CHECKED` of them decode every frame and check its RTP timestamp follows the
  previous one's (the relay's order), count the keyframes their receivers ask for (loss or a
  decode error), and read the painted send time. A painted time that does not read or follow
  the previous one is counted apart, and so it is for a publisher connected straight to a
  decoding viewer in the same run: aiortc's VP8 encoder leaves some of a frame's bars from
  the frame before, so the reader flags a few % of frames with no relay at all
  (docs/benchmarks.md).

Every figure is recorded with the machine's load average: on 2 shared cores, compare within
one run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from bench.media_hls import _stream_with_key
from infra.service import RunningService, free_port
from livefold.settings import Settings
from media import aiortc_private
from media.aioice_private import host_addresses_only
from media.frames import is_keyframe
from media.service import local_url
from media.service import service as media_service
from streams.provision import provision

WIDTH, HEIGHT, FPS, BITS = 320, 240, 30, 32
LATENCY_SECONDS = 20
VIEWER_COUNTS = tuple(
    int(n) for n in os.environ.get("LIVEFOLD_BENCH_WHEP_VIEWERS", "0,10,40").split(",")
)
WINDOW_SECONDS = 10
# "noise": half the picture fresh noise (the encoder's whole bitrate); "bars": the stamp alone
WHEP_PICTURE = os.environ.get("LIVEFOLD_BENCH_WHEP_PICTURE", "noise")
CHECKED = 2


class StampedFrames(VideoStreamTrack):
    """30 fps whose picture is the send time in ms (mod 2^32) as 32 vertical bars, their
    complement below them, and with `noise`, fresh noise in the lower half: bars alone
    compress to almost nothing, noise makes the encoder spend its whole bitrate, as a real
    picture does."""

    def __init__(self, noise: bool = False):
        super().__init__()
        self.noise = noise

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        stamp = int(time.time() * 1000) % 2**BITS
        bars = np.array([(stamp >> (BITS - 1 - i)) & 1 for i in range(BITS)], np.uint8) * 255
        rows = np.concatenate([np.repeat(bars[None, :], HEIGHT // 4, 0),
                               np.repeat(255 - bars[None, :], HEIGHT // 4, 0)])  # fmt: skip
        picture = np.repeat(rows, WIDTH // BITS, 1)
        lower = (
            np.random.randint(0, 256, (HEIGHT // 2, WIDTH), np.uint8)
            if self.noise
            else np.zeros((HEIGHT // 2, WIDTH), np.uint8)
        )
        picture = np.concatenate([picture, lower])
        frame = av.VideoFrame.from_ndarray(np.stack([picture] * 3, -1), format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def stamp_of(frame: av.VideoFrame) -> int | None:
    """The painted send time, or None when the picture's two copies of it (the bars, then
    their complement below) disagree: aiortc's VP8 encoder sometimes leaves parts of a frame
    from the frame before, and such a picture reads as neither frame's time."""
    grey = frame.to_ndarray(format="gray")
    width = WIDTH // BITS

    def read(rows: Any) -> int:
        bits = [rows[:, i * width + 2 : (i + 1) * width - 2].mean() > 127 for i in range(BITS)]
        return sum(1 << (BITS - 1 - i) for i, bit in enumerate(bits) if bit)

    top = read(grey[HEIGHT // 32 : 7 * HEIGHT // 32])  # the bars: the top quarter
    bottom = read(grey[9 * HEIGHT // 32 : 15 * HEIGHT // 32])  # their complement: the next
    return top if top == ~bottom % 2**BITS else None


def latency_ms(frame: av.VideoFrame) -> float | None:
    stamp = stamp_of(frame)
    return None if stamp is None else float((int(time.time() * 1000) - stamp) % 2**BITS)


def peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def offer(connection: RTCPeerConnection) -> str:
    await connection.setLocalDescription(await connection.createOffer())
    return str(connection.localDescription.sdp)


async def answered(connection: RTCPeerConnection, answer: str) -> None:
    await connection.setRemoteDescription(RTCSessionDescription(answer, "answer"))


async def post(http: httpx.AsyncClient, url: str, sdp: str, key: str | None = None) -> str:
    headers = {"Content-Type": "application/sdp"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    answer = await http.post(url, content=sdp, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.text


def recv_peer() -> tuple[RTCPeerConnection, asyncio.Future[Any]]:
    connection = peer()
    connection.addTransceiver("video", direction="recvonly")
    track: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @connection.on("track")
    def arrived(found: Any) -> None:
        if not track.done():
            track.set_result(found)

    return connection, track


async def measure(track: Any, warm_up: float, seconds: float) -> tuple[list[float], int]:
    """Latencies of the frames received over `seconds` after `warm_up` seconds of frames read
    and dropped (a track not read holds its frames, which would then read as late), and how
    many frames could not be read (`stamp_of`)."""
    found: list[float] = []
    unreadable = 0
    start = time.monotonic() + warm_up
    stop = start + seconds
    while time.monotonic() < stop:
        latency = latency_ms(await track.recv())
        if time.monotonic() < start:
            continue
        if latency is None:
            unreadable += 1
        else:
            found.append(latency)
    return found, unreadable


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"frames": len(ordered), "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99)}


def started_media(settings: Settings, fanout: int) -> tuple[RunningService, str]:
    provision(settings)
    own = settings.model_copy(
        update={
            "media_port": free_port(),
            "rtmp_port": free_port(),
            "media_fanout_processes": fanout,
        }
    )
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    handle = RunningService(media_service(own, "media-bench"), (logs / "media.log").open("ab"))
    handle.start()
    return handle, local_url(own)


def whip_whep_latency(settings: Settings) -> dict[str, Any]:
    handle, media = started_media(settings, 1)
    stream_id, key = _stream_with_key(settings)

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            publisher = peer()
            publisher.addTransceiver(StampedFrames(), direction="sendonly")
            await answered(
                publisher,
                await post(http, f"{media}/whip/{stream_id}", await offer(publisher), key),
            )
            viewer, relayed = recv_peer()
            await answered(
                viewer, await post(http, f"{media}/whep/{stream_id}", await offer(viewer))
            )
            # The baseline: the same kind of publisher straight into a viewer.
            direct, straight = await direct_pair()
            through = await asyncio.wait_for(relayed, 30)
            # 3 s: past the first keyframe and the jitter buffers' start
            (ours, ours_unread), (bare, bare_unread) = await asyncio.gather(
                measure(through, 3, LATENCY_SECONDS), measure(straight, 3, LATENCY_SECONDS)
            )
            for connection in (viewer, publisher, *direct):
                await connection.close()
        return {
            "whip_whep_relay": {**percentiles(ours), "unreadable_frames": ours_unread},
            "direct_aiortc_peers": {**percentiles(bare), "unreadable_frames": bare_unread},
        }

    try:
        with host_addresses_only(["127.0.0.1"]):
            results = asyncio.run(run())
    finally:
        handle.stop()
    results["seconds"] = LATENCY_SECONDS
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    return results


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class CountingViewer:
    """A WHEP viewer that counts the frames aiortc reassembles, without decoding them, and
    checks the first is a keyframe and timestamps only grow."""

    def __init__(self) -> None:
        self.peer = peer()
        self.frames = 0
        self.bytes = 0
        self.corrupt = 0
        self.first_not_keyframe = 0
        self._last = -1
        transceiver = self.peer.addTransceiver("video", direction="recvonly")
        aiortc_private.tap_encoded_frames(transceiver.receiver, self._on_frame)

    def _on_frame(self, codec: Any, frame: bytes, timestamp: int) -> None:
        if self.frames == 0 and not is_keyframe(codec.name, frame):
            self.first_not_keyframe += 1
        if timestamp <= self._last:
            self.corrupt += 1
        self._last = timestamp
        self.frames += 1
        self.bytes += len(frame)


async def checked_frames(track: Any, stop: float, counts: dict[str, int], prefix: str) -> None:
    """Decode each frame. Its RTP timestamp (the publisher's, forwarded with the frame) must
    come after the previous frame's, else it is `out_of_order`. Its painted send time should
    read (`stamp_of`) and follow the previous one's; one that does not is a `painted_mismatch`,
    counted under `prefix` (relayed or direct), and a jump over 1 s, which load causes, a
    `gap`."""
    last_stamp, last_pts = None, None
    while time.monotonic() < stop:
        frame = await track.recv()
        stamp = stamp_of(frame)
        if last_pts is not None and frame.pts <= last_pts:
            counts[f"{prefix}_out_of_order"] += 1
        if stamp is None:
            counts[f"{prefix}_painted_mismatch"] += 1
        elif last_stamp is not None:
            step = (stamp - last_stamp) % 2**BITS
            if not 0 < step < 60_000:
                counts[f"{prefix}_painted_mismatch"] += 1
            elif step > 1000:
                counts[f"{prefix}_gaps"] += 1
        last_stamp, last_pts = stamp if stamp is not None else last_stamp, frame.pts
        counts[f"{prefix}_frames"] += 1


async def direct_pair() -> tuple[list[RTCPeerConnection], Any]:
    """A publisher like the bench's, straight into a decoding viewer (no media service): what
    the painted-time check flags without any relay."""
    sender, (receiver, track) = peer(), recv_peer()
    sender.addTransceiver(StampedFrames(), direction="sendonly")
    await receiver.setRemoteDescription(RTCSessionDescription(await offer(sender), "offer"))
    await receiver.setLocalDescription(await receiver.createAnswer())
    await answered(sender, receiver.localDescription.sdp)
    return [sender, receiver], await asyncio.wait_for(track, 30)


def whep_viewers(settings: Settings) -> dict[str, Any]:
    handle, media = started_media(settings, 1)
    stream_id, key = _stream_with_key(settings)
    assert handle.process is not None
    media_pid = handle.process.pid

    async def run() -> list[dict[str, Any]]:
        rows = []
        async with httpx.AsyncClient(timeout=60) as http:
            publisher = peer()
            publisher.addTransceiver(
                StampedFrames(noise=WHEP_PICTURE == "noise"), direction="sendonly"
            )
            await answered(
                publisher,
                await post(http, f"{media}/whip/{stream_id}", await offer(publisher), key),
            )
            direct, straight = await direct_pair()
            counting: list[CountingViewer] = []
            checked: list[tuple[RTCPeerConnection, asyncio.Future[Any]]] = []
            losses = [0]  # keyframes the decoding viewers asked for: loss or a decode error

            def lost() -> None:
                losses[0] += 1

            for count in VIEWER_COUNTS:
                while len(checked) < min(CHECKED, count):
                    checked.append(recv_peer())
                    receiver = checked[-1][0].getTransceivers()[0].receiver
                    aiortc_private.picture_loss_hook(receiver, lost)
                    await answered(
                        checked[-1][0],
                        await post(http, f"{media}/whep/{stream_id}", await offer(checked[-1][0])),
                    )
                while len(counting) + len(checked) < count:
                    viewer = CountingViewer()
                    await answered(
                        viewer.peer,
                        await post(http, f"{media}/whep/{stream_id}", await offer(viewer.peer)),
                    )
                    counting.append(viewer)
                await asyncio.sleep(3)  # every viewer past its first keyframe
                ready = (await http.get(f"{media}/health/ready")).json()
                pids = [media_pid] + [w["pid"] for w in ready["fanout"]]
                before = {id(v): v.frames for v in counting}
                bytes_before = {id(v): v.bytes for v in counting}
                corrupt_before, losses_before = sum(v.corrupt for v in counting), losses[0]
                cpu, started = cpu_seconds(pids), time.monotonic()
                harness_cpu = time.process_time()
                counts: Counter[str] = Counter()
                stop = started + WINDOW_SECONDS
                tracks = [await track for _, track in checked]
                await asyncio.gather(
                    *(checked_frames(track, stop, counts, "relayed") for track in tracks),
                    checked_frames(straight, stop, counts, "direct"),
                    asyncio.sleep(WINDOW_SECONDS),
                )
                elapsed, used = time.monotonic() - started, cpu_seconds(pids) - cpu
                harness_cpu = time.process_time() - harness_cpu
                frames = sum(v.frames - before[id(v)] for v in counting) + counts["relayed_frames"]
                received = sum(v.bytes - bytes_before[id(v)] for v in counting)
                counted_corrupt = sum(v.corrupt for v in counting) - corrupt_before
                per_viewer = count * elapsed
                rows.append({
                    "viewers": count,
                    "server_cpu_percent": round(100 * used / elapsed, 1),
                    "viewers_process_cpu_percent": round(100 * harness_cpu / elapsed, 1),
                    "cpu_ms_per_viewer_second": round(1000 * used / per_viewer, 2) if count else 0,
                    "viewer_fps_mean": round(frames / per_viewer, 1) if count else None,
                    "video_kbps_per_viewer": (
                        round(8 * received / (len(counting) * elapsed) / 1000) if counting else None
                    ),
                    "decoded_frames": counts["relayed_frames"],
                    "decoded_out_of_order": counts["relayed_out_of_order"],
                    "decoded_keyframe_requests": losses[0] - losses_before,
                    "decoded_painted_mismatch": counts["relayed_painted_mismatch"],
                    "undecoded_timestamps_backwards": counted_corrupt,
                    "first_frame_not_keyframe": sum(v.first_not_keyframe for v in counting),
                    "gaps_over_1s": counts["relayed_gaps"],
                    "direct_pair_frames": counts["direct_frames"],
                    "direct_pair_painted_mismatch": counts["direct_painted_mismatch"],
                })  # fmt: skip
            others = [*(v.peer for v in counting), *(c for c, _ in checked), *direct]
            for connection in [publisher, *others]:
                await connection.close()
        return rows

    try:
        with host_addresses_only(["127.0.0.1"]):
            rows = asyncio.run(run())
    finally:
        handle.stop()
    idle = rows[0]["server_cpu_percent"]
    for row in rows[1:]:
        row["marginal_cpu_ms_per_viewer_second"] = round(
            10 * (row["server_cpu_percent"] - idle) / row["viewers"], 2
        )
    return {
        "rows": rows,
        "window_seconds": WINDOW_SECONDS,
        "picture": WHEP_PICTURE,
        "fanout_processes": 1,
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
    }


BENCHMARKS = {"whip_whep_latency": whip_whep_latency, "whep_viewers": whep_viewers}
