"""`presence`: what viewer presence costs at 10 000 watching sockets on one gateway.

Opens 10k subscribed sockets (each a viewer: a `ViewerJoined`, then a `ViewerHeartbeat` every
`gateway_presence_heartbeat_seconds`, default 30 s), holds them for two heartbeat intervals
and measures the audience events appended per second (the topic's end offsets), the gateway's
CPU share while only presence happens, and the fold workers' CPU share folding it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.gateway import (
    _close,
    _open,
    _run,
    access_token,
    bench_settings,
    bench_stream,
    cpu_seconds,
    running_folds,
    running_gateway,
)
from bench.wsload import Counts
from livefold.settings import Settings
from streams.catalog import event_topic

SOCKETS = 10_000
HOLD_INTERVALS = 2  # heartbeat intervals measured after the joins


def _appended(settings: Settings, topic: str) -> int:
    consumer = Consumer({**settings.kafka_config(), "group.id": "bench-probe"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def presence(settings: Settings) -> dict[str, Any]:
    own = bench_settings(settings)
    interval = own.gateway_presence_heartbeat_seconds
    topic = event_topic("audience")
    with running_folds(own), running_gateway(own) as (handle, url):
        stream_id = bench_stream(f"{url}/api/v1", access_token(own, "bench-streamer", {"streamer"}))
        assert handle.process is not None
        pid = handle.process.pid

        async def hold() -> dict[str, Any]:
            counts = Counts()
            opening = time.monotonic()
            held = await _open(own.host, own.gateway_port, stream_id, SOCKETS, counts)
            opened_s = time.monotonic() - opening
            await asyncio.sleep(2.0)  # the joins are appended
            try:
                events, cpu, started = _appended(own, topic), cpu_seconds(pid), time.monotonic()
                await asyncio.sleep(HOLD_INTERVALS * interval)
                seconds = time.monotonic() - started
                events = _appended(own, topic) - events
                cpu = cpu_seconds(pid) - cpu
                closed = counts.closed
            finally:
                _close(held)
            return {
                "sockets": len(held),
                "closed_by_server": closed,
                "opened_in_s": round(opened_s, 1),
                "heartbeat_seconds": interval,
                "measured_s": round(seconds, 1),
                "presence_events_per_s": round(events / seconds, 1),
                "expected_per_s": round(len(held) / interval, 1),
                "gateway_cpu_share_holding": round(cpu / seconds, 3),
                "gateway_cpu_us_per_heartbeat": round(cpu * 1e6 / max(1, events), 1),
            }

        result = _run(hold())
    result["note"] = "2 cores shared with the stack and other work: contended numbers"
    return result


BENCHMARKS = {"presence": presence}
