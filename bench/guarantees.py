"""What Faust's `processing_guarantee="exactly_once"` costs, against its default, on Faust's
own per-record path: an agent that counts each key's events in a table and sends the count to
an output topic, the shape Faust's exactly-once is made for (one transactional producer per
partition; outputs, changelog and offsets commit together every commit interval).

- `events_per_s`: events produced first, then a worker folds them all; events over the span of
  the output records' log-append times.
- latency: the worker caught up, events produced one at a time; the time until the output
  record is visible to a `read_committed` consumer (what the gateway's feed would see).
- `output_offsets_beyond_records`: the output topic's end offsets minus its records; a
  transaction leaves a marker (an offset) in each partition it wrote to, so 0 means the outputs
  were not written in transactions.

`python -m bench faust_guarantees` (a fresh stack). The fold worker's own numbers are
`fold_worker_throughput` and `vote_to_tally_latency`; docs/architecture.md compares them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from livefold.settings import Settings

GUARANTEES = ("at_least_once", "exactly_once")
KEYS = 400


def worker(guarantee: str, bootstrap: str, group: str, partitions: int, datadir: str) -> None:
    """The Faust worker (run in a process of its own: `python -m bench.guarantees ...`)."""
    import faust

    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        processing_guarantee=guarantee,
        topic_partitions=partitions,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    source = app.topic(f"{group}-in", key_type=bytes, value_type=bytes, value_serializer="raw")
    output = app.topic(f"{group}-out", key_type=bytes, value_type=bytes, value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=partitions)

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            key = event.key.decode()
            counts[key] += 1
            await output.send(key=event.key, value=str(counts[key]).encode())

    sys.argv = ["bench-guarantees", "worker", "-l", "warn"]
    app.main()


def start_worker(settings: Settings, guarantee: str, group: str) -> subprocess.Popen[bytes]:
    datadir = Path(settings.data_dir) / group
    datadir.mkdir(parents=True, exist_ok=True)
    log = (datadir / "worker.log").open("ab")
    arguments = [guarantee, settings.kafka_bootstrap, group, str(settings.topic_partitions)]
    return subprocess.Popen(
        [sys.executable, "-m", "bench.guarantees", *arguments, str(datadir)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def make_topics(settings: Settings, group: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = [f"{group}-in", f"{group}-out", f"{group}-counts-changelog"]
    new = [NewTopic(name, settings.topic_partitions, 1) for name in names]
    for future in admin.create_topics(new).values():
        future.result(30)


def produce(settings: Settings, group: str, count: int, start: int = 0) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    for n in range(start, start + count):
        producer.produce(f"{group}-in", key=f"key-{n % KEYS}".encode(), value=b"x" * 100)
        if n % 10_000 == 0:
            producer.flush()
    producer.flush()


def output_reader(settings: Settings, group: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([f"{group}-out"])
    return consumer


def read(consumer: Consumer, wanted: int, timeout: float) -> list[float]:
    """Log-append times (s) of the next `wanted` output records, as they become visible."""
    times: list[float] = []
    deadline = time.monotonic() + timeout
    while len(times) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(times)} of {wanted} outputs within {timeout}s")
        for message in consumer.consume(min(1000, wanted - len(times)), 0.5):
            if message.error() is None:
                times.append(message.timestamp()[1] / 1000)
    return times


def one_guarantee(settings: Settings, guarantee: str, events: int, probes: int) -> dict[str, Any]:
    group = f"bench-{guarantee.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    make_topics(settings, group)
    produce(settings, group, events)
    reader = output_reader(settings, group)
    process = start_worker(settings, guarantee, group)
    try:
        appended = read(reader, events, timeout=900)
        span = max(appended) - min(appended)
        delays = []
        for n in range(probes):
            sent = time.time()
            produce(settings, group, 1, start=events + n)
            read(reader, 1, timeout=60)
            delays.append((time.time() - sent) * 1000)
            time.sleep(0.05)
        time.sleep(3)  # a commit interval and more: open transactions commit
        ends = reader.get_watermark_offsets
        offsets = sum(
            ends(TopicPartition(f"{group}-out", p), 10)[1] for p in range(settings.topic_partitions)
        )
    finally:
        process.terminate()
        process.wait(30)
        reader.close()
    delays.sort()
    return {
        "events": events,
        "events_per_s": round(events / span) if span > 0 else None,
        "latency_ms_p50": round(statistics.median(delays), 1),
        "latency_ms_p95": round(delays[int(len(delays) * 0.95) - 1], 1),
        "latency_ms_max": round(delays[-1], 1),
        "output_offsets_beyond_records": offsets - events - probes,
    }


def faust_guarantees(settings: Settings, events: int = 50_000, probes: int = 100) -> dict[str, Any]:
    return {
        guarantee: one_guarantee(settings, guarantee, events, probes) for guarantee in GUARANTEES
    }


BENCHMARKS = {"faust_guarantees": faust_guarantees}


if __name__ == "__main__":
    guarantee, bootstrap, group, partitions, datadir = sys.argv[1:6]
    worker(guarantee, bootstrap, group, int(partitions), datadir)
