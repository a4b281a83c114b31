"""Gateway benchmarks, against the private stack the runner started, all on loopback:

- `gateway_fanout`: N WebSocket subscribers on one stream while publishers send chat at 1k
  messages/s, as socket `send` frames and then as HTTP POSTs; each message goes gateway ->
  Kafka -> moderation and chat folds -> state topic -> gateway -> every socket. Probes decode
  every frame and time each message end to end; the other subscribers count frames by their
  headers (a Python client decoding 10k sockets would measure itself, not the gateway). Run at
  growing N up to 10k.
- `gateway_connections`: idle subscribed sockets on one gateway process, in steps, with the
  process's RSS at each; extrapolated to 2 GiB.
- `gateway_writes`: chat writes/s one gateway process accepts (each acknowledged by Kafka).

The folds run in the stack's fold workers (`infra.stack.application`, without the gateway and
the analytics sink, which would take CPU from what is measured here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvloop
from confluent_kafka.admin import AdminClient

from agents.inspect import read_raw
from bench.wsload import (
    CountingSubscriber,
    Counts,
    Probe,
    masked_text,
    percentile,
    publish,
    publish_over_sockets,
)
from gateway.auth.backend import load_signing_keys, signing_key_path
from gateway.auth.tokens import issue_access_token
from gateway.service import local_url, service
from infra.service import RunningService, Service, free_port
from infra.stack import application
from livefold.settings import Settings
from streams.catalog import state_topic
from streams.provision import provision

T = TypeVar("T")
STEPS = (1_000, 4_000, 10_000)
DOORS = ("ws", "http")  # chat sent as socket `send` frames, then as HTTP POSTs
RATE = 1_000.0  # chat messages per second
SECONDS = 8.0
PROBES = 20
CONNECTION_STEPS = (2_000, 6_000, 12_000, 18_000)
REPO = Path(__file__).resolve().parent.parent


def _bench_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "gateway_port": free_port(),
            "gateway_user_writes_per_second": 1e6,
            "gateway_ip_writes_per_second": 1e6,
            "gateway_ip_connects_per_second": 1e6,
            "gateway_user_connects_per_second": 1e6,
            "gateway_ws_frames_per_second": 1e6,
        }
    )


@contextlib.contextmanager
def _gateway(settings: Settings) -> Iterator[tuple[RunningService, str]]:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    spec = service(settings, "gateway-bench")
    handle = RunningService(spec, (logs / "gateway-bench.log").open("ab"))
    handle.start()
    try:
        yield handle, local_url(settings)
    finally:
        handle.stop()


@contextlib.contextmanager
def _folds(settings: Settings) -> Iterator[str]:
    provision(settings)  # topics and schemas (idempotent): the runner starts bare servers
    # The fold workers only: analytics would take CPU from what is measured here.
    workers: list[Service] = [
        s for s in application(settings) if s.name not in ("gateway", "analytics")
    ]
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    handles = [RunningService(w, (logs / f"{w.name}.log").open("ab")) for w in workers]
    for handle in handles:
        handle.start()
    try:
        yield "fold workers: " + ", ".join(w.name for w in workers)
    finally:
        for handle in reversed(handles):
            handle.stop()


def _token(settings: Settings, user: str, roles: set[str]) -> str:
    keys = load_signing_keys(signing_key_path(settings))
    return issue_access_token(
        keys, user_id=user, roles=roles, issuer=settings.gateway_url,
        audience=settings.auth_audience, ttl_seconds=3600,
    )  # fmt: skip


def _stream(base: str, streamer: str) -> str:
    headers = {"Authorization": f"Bearer {streamer}"}
    body = {"title": "Benchmark stream", "category": "Bench"}
    stream_id = str(httpx.post(f"{base}/streams", json=body, headers=headers).json()["stream_id"])
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/streams/{stream_id}").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the stream never reached the gateway: are the folds running?")
        time.sleep(0.1)
    # A benchmark floods chat on purpose: the streamer lifts the per-user flood limit.
    filters = {"rate_limit_messages": 100_000, "rate_limit_seconds": 1}
    answer = httpx.patch(f"{base}/streams/{stream_id}/moderation/filters", json=filters,
                         headers=headers)  # fmt: skip
    assert answer.status_code == 202, answer.text
    time.sleep(1.0)
    return stream_id


async def _open(
    host: str, port: int, stream_id: str, count: int, counts: Counts
) -> list[CountingSubscriber]:
    loop = asyncio.get_running_loop()
    subscribe = masked_text({"op": "subscribe", "stream": stream_id, "channels": ["chat"]})
    opened: list[CountingSubscriber] = []
    for start in range(0, count, 500):

        async def one() -> CountingSubscriber:
            _, protocol = await loop.create_connection(
                lambda: CountingSubscriber(host, port, subscribe, counts), host, port
            )
            await protocol.upgraded
            return protocol

        opened += await asyncio.gather(*(one() for _ in range(min(500, count - start))))
    return opened


def _close(subscribers: list[CountingSubscriber]) -> None:
    for subscriber in subscribers:
        if subscriber.transport is not None:
            subscriber.transport.abort()


def _run(work: Coroutine[Any, Any, T]) -> T:
    """uvloop: the load generator shares two cores with everything it measures."""
    return uvloop.run(work)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    return sum(_cpu_split(pid))


def _cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fanout(settings: Settings) -> dict[str, Any]:
    own = _bench_settings(settings)
    with _folds(own) as fold_path, _gateway(own) as (handle, url):
        base = f"{url}/api/v1"
        stream_id = _stream(base, _token(own, "bench-streamer", {"streamer"}))
        tokens = [_token(own, f"bench-viewer-{n}", {"viewer"}) for n in range(200)]
        assert handle.process is not None
        ws = url.replace("http", "ws", 1) + "/ws"
        _run(publish_over_sockets(ws, stream_id, tokens, RATE, 3.0))  # warm-up, not measured
        runs = []
        for count, door in [(count, door) for door in DOORS for count in STEPS]:
            user, system = _cpu_split(handle.process.pid)
            started = time.monotonic()
            run = _run(_fanout_step(own, url, base, stream_id, tokens, count, door))
            elapsed = time.monotonic() - started
            after = _cpu_split(handle.process.pid)
            user, system = after[0] - user, after[1] - system
            frames = max(1, run.pop("frames"))
            # All of the gateway's CPU (the writes it takes too) over the frames it sent.
            run["gateway_cpu_us_per_frame"] = round((user + system) * 1e6 / frames, 1)
            run["gateway_cpu_cores"] = round((user + system) / elapsed, 2)
            # The kernel's share: on loopback, sending a frame also runs the receiving side.
            run["gateway_kernel_cpu_share"] = round(system / max(1e-9, user + system), 2)
            run["gateway_rss_mib"] = round(_rss_mib(handle.process.pid), 1)
            runs.append(run)
    return {"fold_path": fold_path, "rate_per_s": RATE, "seconds": SECONDS, "runs": runs}


async def _fanout_step(
    settings: Settings,
    url: str,
    base: str,
    stream_id: str,
    tokens: list[str],
    count: int,
    door: str,
) -> dict[str, Any]:
    counts = Counts()
    subscribers = await _open(settings.host, settings.gateway_port, stream_id, count, counts)
    probes = [Probe() for _ in range(PROBES)]
    probes[0].arrivals = {}
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in probes]
    ws = url.replace("http", "ws", 1) + "/ws"
    tasks = [
        asyncio.create_task(probe.run(ws, stream_id, ready, stop))
        for probe, ready in zip(probes, readies, strict=True)
    ]
    await asyncio.gather(*(ready.wait() for ready in readies))
    await asyncio.sleep(1.0)
    frames, received = counts.frames, counts.bytes
    started = time.monotonic()
    if door == "ws":
        sent = await publish_over_sockets(ws, stream_id, tokens, RATE, SECONDS)
    else:
        sent = await publish(base, stream_id, tokens, RATE, SECONDS)
    await asyncio.sleep(1.0)  # the last messages are still on their way
    elapsed = time.monotonic() - started
    stop.set()
    await asyncio.gather(*tasks)
    frames, received = counts.frames - frames, counts.bytes - received
    _close(subscribers)
    await asyncio.sleep(0.5)
    latencies = [latency for probe in probes for latency in probe.latencies]
    from_log = [latency for probe in probes for latency in probe.from_log]
    seen = sum(probe.messages for probe in probes) / len(probes)
    per_frame = seen / max(1, frames / count) if frames else 0.0
    return {
        "published_over": door,
        "subscribers": count + PROBES,
        "messages_accepted": sent["accepted"],
        "messages_refused": sent["refused"],
        "publish_seconds": sent["seconds"],
        "messages_seen_per_probe": round(seen),
        "frames": frames,
        "frames_per_s": round(frames / elapsed),
        "bytes_per_s": round(received / elapsed),
        "message_deliveries_per_s": round(frames / elapsed * per_frame),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "accepted_to_socket_p50_ms": round(percentile(from_log, 0.50) * 1000, 1),
        "accepted_to_socket_p99_ms": round(percentile(from_log, 0.99) * 1000, 1),
        "dropped_sockets": counts.closed - count if counts.closed > count else 0,
        **_stages(settings, probes[0].arrivals or {}),
    }


def _stages(settings: Settings, arrivals: dict[str, float]) -> dict[str, Any]:
    """Where the time goes, per message one probe saw: accepted by the gateway -> its notice
    handed to the fold worker's producer (the state record's timestamp: Kafka, moderation, the
    chat fold) -> on the socket (the state topic, the gateway's feed, batching, fan-out)."""
    topic = state_topic("chat")
    metadata = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10)
    partitions = [(topic, p) for p in metadata.topics[topic].partitions]
    folded, fanned = [], []
    for message in read_raw(settings, partitions):
        record = json.loads(message.value() or b"{}")
        value = record.get("value") or {}
        arrived = arrivals.get(value.get("text", "")) if record.get("kind") == "notice" else None
        if arrived is not None:
            published = message.timestamp()[1] / 1000
            folded.append(published - value["at"] / 1000)
            fanned.append(arrived - published)
    return {
        "stage_fold_p50_ms": round(percentile(folded, 0.50) * 1000, 1),
        "stage_fold_p99_ms": round(percentile(folded, 0.99) * 1000, 1),
        "stage_fanout_p50_ms": round(percentile(fanned, 0.50) * 1000, 1),
        "stage_fanout_p99_ms": round(percentile(fanned, 0.99) * 1000, 1),
    }


def connections(settings: Settings) -> dict[str, Any]:
    own = _bench_settings(settings)
    with _folds(own), _gateway(own) as (handle, url):
        base = f"{url}/api/v1"
        stream_id = _stream(base, _token(own, "bench-streamer", {"streamer"}))
        assert handle.process is not None
        pid = handle.process.pid
        return _run(_connection_steps(own, stream_id, pid))


async def _connection_steps(settings: Settings, stream_id: str, pid: int) -> dict[str, Any]:
    idle_rss = _rss_mib(pid)
    counts = Counts()
    held: list[CountingSubscriber] = []
    steps: list[dict[str, Any]] = []
    rss = idle_rss
    try:
        for target in CONNECTION_STEPS:
            before = len(held)
            started = time.monotonic()
            held += await _open(
                settings.host, settings.gateway_port, stream_id, target - before, counts
            )
            opening = time.monotonic() - started
            await asyncio.sleep(1.0)
            rss = _rss_mib(pid)
            steps.append(
                {
                    "connections": len(held),
                    "rss_mib": round(rss, 1),
                    "kib_per_connection": round((rss - idle_rss) * 1024 / len(held), 1),
                    "opened_per_s": round((len(held) - before) / opening),
                    "closed_by_server": counts.closed,
                }
            )
    finally:
        _close(held)
    per_connection = (rss - idle_rss) / max(1, len(held))
    return {
        "idle_rss_mib": round(idle_rss, 1),
        "steps": steps,
        "connections_within_2_gib": int((2048 - idle_rss) / per_connection),
        "limit_here": "about 20k: the sandbox's hard open-files limit (one file per socket)",
    }


def writes(settings: Settings) -> dict[str, Any]:
    own = _bench_settings(settings)
    with _folds(own), _gateway(own) as (handle, url):
        base = f"{url}/api/v1"
        stream_id = _stream(base, _token(own, "bench-streamer", {"streamer"}))
        tokens = [_token(own, f"bench-writer-{n}", {"viewer"}) for n in range(200)]
        assert handle.process is not None
        cpu = _cpu_seconds(handle.process.pid)
        sent = _run(publish(base, stream_id, tokens, 50_000.0, 6.0, workers=64))
        cpu = _cpu_seconds(handle.process.pid) - cpu
    return {
        **sent,
        "accepted_per_s": round(sent["accepted"] / sent["seconds"]),
        "gateway_cpu_ms_per_write": round(cpu * 1000 / max(1, sent["accepted"]), 3),
    }


BENCHMARKS = {
    "gateway_fanout": fanout,
    "gateway_connections": connections,
    "gateway_writes": writes,
}
