"""Gateway benchmarks, against the private stack the runner started, all on loopback (the
fan-out benchmark, `gateway_fanout`, is `bench.fanout`; it shares the helpers here):

- `gateway_connections`: idle subscribed sockets on one gateway process, in steps, with the
  process's RSS at each; extrapolated to 2 GiB.
- `gateway_writes`: chat writes/s one gateway process accepts (each acknowledged by Kafka),
  without an Idempotency-Key and (`keyed`) with one per request; then the latency of a POST,
  paced, without and with a key (`latency_unkeyed`, `latency_keyed`).

The folds run in the stack's fold workers (`infra.stack.application`, without the gateway and
the analytics sink, which would take CPU from what is measured here).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvloop

from bench.wsload import Counts, Subscriber, masked_text, publish, split_url
from gateway.service import local_url, service
from infra.service import RunningService, Service, free_port
from infra.stack import application
from livefold.access.local import load_signing_keys, signing_key_path
from livefold.access.tokens import issue_access_token
from livefold.settings import Settings
from streams.provision import provision

T = TypeVar("T")
CONNECTION_STEPS = (2_000, 6_000, 12_000, 18_000)
REPO = Path(__file__).resolve().parent.parent


def bench_settings(settings: Settings) -> Settings:
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
def running_gateway(settings: Settings) -> Iterator[tuple[RunningService, str]]:
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
def running_folds(settings: Settings) -> Iterator[list[RunningService]]:
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
        yield handles
    finally:
        for handle in reversed(handles):
            handle.stop()


def access_token(settings: Settings, user: str, roles: set[str]) -> str:
    keys = load_signing_keys(signing_key_path(settings))
    return issue_access_token(
        keys, user_id=user, roles=roles, issuer=settings.gateway_url,
        audience=settings.auth_audience, ttl_seconds=3600,
    )  # fmt: skip


def bench_stream(base: str, streamer: str) -> str:
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
) -> list[Subscriber]:
    loop = asyncio.get_running_loop()
    subscribe = masked_text({"op": "subscribe", "stream": stream_id, "channels": ["chat"]})
    opened: list[Subscriber] = []
    for start in range(0, count, 500):

        async def one() -> Subscriber:
            _, protocol = await loop.create_connection(
                lambda: Subscriber(host, port, [subscribe], counts, deflate=True), host, port
            )
            await protocol.upgraded
            return protocol

        opened += await asyncio.gather(*(one() for _ in range(min(500, count - start))))
    return opened


def _close(subscribers: list[Subscriber]) -> None:
    for subscriber in subscribers:
        if subscriber.transport is not None:
            subscriber.transport.abort()


def _run(work: Coroutine[Any, Any, T]) -> T:
    """uvloop: the load generator shares two cores with everything it measures."""
    return uvloop.run(work)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def connections(settings: Settings) -> dict[str, Any]:
    own = bench_settings(settings)
    with running_folds(own), running_gateway(own) as (handle, url):
        base = f"{url}/api/v1"
        stream_id = bench_stream(base, access_token(own, "bench-streamer", {"streamer"}))
        assert handle.process is not None
        pid = handle.process.pid
        return _run(_connection_steps(own, stream_id, pid))


async def _connection_steps(settings: Settings, stream_id: str, pid: int) -> dict[str, Any]:
    idle_rss = _rss_mib(pid)
    counts = Counts()
    held: list[Subscriber] = []
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


PACED_RATE = 200.0  # chat POSTs/s for the latency rows of `gateway_writes`
PACED_SECONDS = 8.0


def writes(settings: Settings) -> dict[str, Any]:
    own = bench_settings(settings)
    with running_folds(own), running_gateway(own) as (handle, url):
        base = f"{url}/api/v1"
        stream_id = bench_stream(base, access_token(own, "bench-streamer", {"streamer"}))
        tokens = [access_token(own, f"bench-writer-{n}", {"viewer"}) for n in range(200)]
        assert handle.process is not None
        host, port, prefix = split_url(base)
        rows = {}
        for row, keyed in (("unkeyed", False), ("keyed", True)):
            cpu = cpu_seconds(handle.process.pid)
            sent = _run(
                publish(
                    host,
                    port,
                    f"{prefix}/streams/{stream_id}/chat",
                    [{"Authorization": f"Bearer {token}"} for token in tokens],
                    lambda text: {"text": text},
                    50_000.0,
                    6.0,
                    workers=64,
                    keyed=keyed,
                )
            )
            cpu = cpu_seconds(handle.process.pid) - cpu
            rows[row] = {
                **sent,
                "accepted_per_s": round(sent["accepted"] / sent["seconds"]),
                "gateway_cpu_ms_per_write": round(cpu * 1000 / max(1, sent["accepted"]), 3),
            }
        for row, keyed in (("paced_unkeyed", False), ("paced_keyed", True)):
            latencies: list[float] = []
            _run(
                publish(
                    host,
                    port,
                    f"{prefix}/streams/{stream_id}/chat",
                    [{"Authorization": f"Bearer {token}"} for token in tokens],
                    lambda text: {"text": text},
                    PACED_RATE,
                    PACED_SECONDS,
                    workers=16,
                    keyed=keyed,
                    latencies=latencies,
                )
            )
            latencies.sort()
            rows[row] = {
                "requests": len(latencies),
                "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
                "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
            }
    # `keyed`: every request with an Idempotency-Key of its own, so each write first waits
    # for the gateway to have read its topic's partition ends (gateway/resends.py). The paced
    # rows (PACED_RATE requests/s, not flat out) time each POST: what that check adds.
    return {
        **rows["unkeyed"],
        "keyed": rows["keyed"],
        "paced_per_s": PACED_RATE,
        "latency_unkeyed": rows["paced_unkeyed"],
        "latency_keyed": rows["paced_keyed"],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


BENCHMARKS = {
    "gateway_connections": connections,
    "gateway_writes": writes,
}
