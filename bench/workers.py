"""Fold worker benchmarks, each with a worker process of its own consumer group:

- `fold_worker_throughput`: a realistic session (`bench.sessions`, moderation deciding the
  verdicts) is produced first, on 12 partitions as the platform's topics; then one worker
  starts and folds it all. Events/s from the worker's readiness until its last changelog
  write, once its group has committed the end of every event topic (lag zero; commits lag up
  to a second behind), and events per CPU-second of the worker process (what it would do on a
  core of its own). Then two workers of a new
  group fold the same log (`two_workers`; on 2 shared cores the speedup is bounded by the
  cores the machine has free, so compare events per CPU-second too).
- `fold_worker_chat`: the fold worker on `gateway_fanout`'s chat alone, isolated: 60,000
  chat messages in one stream from 4 authors, 1 ms apart in event time, the per-user flood
  limit lifted as that benchmark lifts it (`bench.gateway.bench_stream`), produced first and
  then folded by one worker (one stream is one partition: a second worker would have nothing
  to share). Reports events/s and the worker's CPU milliseconds per chat message (each
  message's verdict, chat notice, changelogs and outcome included).
- `vote_to_tally_latency`: a worker that caught up with the log; votes produced one at a time
  (each poll gets a vote every 0.4 s, so the 100 ms coalescing never holds one back); the time
  from handing a vote to the producer until the poll's tally including it is on the state topic.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from agents.app import changelog_topic
from agents.folds import TABLES, source_topics
from agents.inspect import caught_up
from agents.service import service as fold_worker
from bench.sessions import generate
from infra.service import RunningService
from livefold.settings import Settings
from streams.catalog import state_topic
from streams.codec import Codec
from streams.consumer import retried
from streams.events import new_event
from streams.producer import EventProducer
from streams.provision import provision
from streams.state import from_record

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def started_worker(settings: Settings, number: int = 1) -> RunningService:
    service = fold_worker(settings, number)
    log = (settings.data_dir / f"{service.name}.log").open("ab")
    handle = RunningService(service, log)
    handle.start()
    return handle


def fold_worker_throughput(
    settings: Settings, streams: int = 40, seconds: int | None = None, partitions: int = 12
) -> dict[str, Any]:
    """`LIVEFOLD_BENCH_SESSION_SECONDS` (default 600) shortens the session (and the run)."""
    seconds = seconds or int(os.environ.get("LIVEFOLD_BENCH_SESSION_SECONDS", "600"))
    # The platform's partition count, not the benchmark stack's 3: two workers split 3
    # partitions 2:1, which caps their speedup at 1.5x whatever the workers do.
    settings = settings.model_copy(update={"topic_partitions": partitions})
    provision(settings)
    events = generate(seed=3, streams=streams, seconds=seconds, verdicts=False)
    producer = EventProducer(settings, Codec.from_settings(settings))
    producer.append_all(events, timeout=600)
    producer.close()
    verdicts = sum(1 for event in events if event.type == "livefold.chat.MessageSent")
    one = _fold_all(settings, len(events), workers=1)
    two = _fold_all(settings, len(events), workers=2)
    return {
        "events": len(events),
        "records_read": len(events) + verdicts,  # the verdicts appended come back too
        **one,
        "two_workers": two,
        "two_workers_speedup": round(two["events_per_s"] / one["events_per_s"], 2),
        "partitions": partitions,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def fold_worker_chat(
    settings: Settings, messages: int = 60_000, authors: int = 4, partitions: int = 12
) -> dict[str, Any]:
    settings = settings.model_copy(update={"topic_partitions": partitions})
    provision(settings)
    stream, streamer = f"bench-chat-{uuid.uuid4().hex[:6]}", "bench-streamer"
    start = datetime.now(UTC) - timedelta(seconds=messages / 1000 + 60)
    events = [
        new_event("livefold.stream.Created", stream_id=stream, actor_id=streamer,
                  occurred_at=start, title="bench", category="games", tags=[]),
        # After the stream's Created in event time, which makes the streamer its owner.
        new_event("livefold.moderation.FilterSettingsChanged", stream_id=stream,
                  actor_id=streamer, occurred_at=start + timedelta(milliseconds=1),
                  rate_limit_messages=1000,
                  rate_limit_seconds=1),
    ]  # fmt: skip
    for number in range(messages):
        at = start + timedelta(seconds=1, milliseconds=number)
        events.append(
            new_event(
                "livefold.chat.MessageSent",
                stream_id=stream,
                actor_id=f"bench-writer-{number % authors}",
                occurred_at=at,
                message_id=f"m-{number}",
                text=f"bench {number} {at.timestamp():.3f}",
                reply_to=None,
                emotes=[],
            )
        )
    producer = EventProducer(settings, Codec.from_settings(settings))
    producer.append_all(events, timeout=600)
    producer.close()
    one = _fold_all(settings, len(events), workers=1)
    return {
        "messages": messages,
        "authors": authors,
        **one,
        "worker_cpu_ms_per_message": round(one["worker_cpu_seconds"] * 1000 / messages, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _fold_all(settings: Settings, events: int, workers: int) -> dict[str, Any]:
    """Start `workers` workers of a new group on the log there is (together: a new group's
    first rebalance waits for members that join within 3 s), and time them from the first
    one's readiness until their last changelog write once the group has caught up."""
    group = settings.model_copy(update={"fold_group": f"bench-folds-{uuid.uuid4().hex[:6]}"})
    handles: list[RunningService] = []
    ready: list[tuple[float, float]] = []  # (when, CPU seconds then) per worker
    done = threading.Event()

    def run(number: int) -> None:
        # The thread that starts a worker lives as long as it: a child is signalled when the
        # thread that started it ends (`infra.service`).
        handle = started_worker(group, number)
        handles.append(handle)
        assert handle.process is not None
        ready.append((time.time(), cpu_seconds(handle.process.pid)))
        done.wait()
        handle.stop()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(1, workers + 1)]
    for thread in threads:
        thread.start()
    try:
        while len(ready) < workers:
            if not any(thread.is_alive() for thread in threads):
                raise RuntimeError("a fold worker did not start")
            time.sleep(0.1)
        topics, deadline = source_topics(), time.monotonic() + 900
        while not caught_up(group, topics):
            if any(h.process is None or h.process.poll() is not None for h in handles):
                raise RuntimeError("a fold worker exited before folding the log")
            if time.monotonic() > deadline:
                raise RuntimeError("the fold workers did not catch up within 900 s")
            time.sleep(0.2)
        cpu = sum(cpu_seconds(h.process.pid) for h in handles if h.process is not None) - sum(
            cpu for _, cpu in ready
        )
        seconds_taken = last_state_written(group) - min(when for when, _ in ready)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    return {
        "workers": workers,
        "seconds": round(seconds_taken, 2),
        "events_per_s": round(events / seconds_taken),
        "worker_cpu_seconds": round(cpu, 2),
        "events_per_cpu_s": round(events / cpu),
    }


def last_state_written(settings: Settings) -> float:
    """When (epoch seconds) the group's workers wrote their last state to a changelog: the end
    of the last batch they folded (commits, which show the lag, follow up to a second later)."""
    consumer = Consumer({**settings.kafka_config(), "group.id": "bench"})
    try:
        last: list[TopicPartition] = []
        for table in TABLES:
            topic = changelog_topic(settings, table)
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                tp = TopicPartition(topic, partition)
                _, high = retried(partial(consumer.get_watermark_offsets, tp, 10), 30.0)
                if high > 0:
                    last.append(TopicPartition(topic, partition, high - 1))
        # All at once: one fetch, where a partition at a time waited a fetch round each.
        consumer.assign(last)
        latest, unread, deadline = 0, len(last), time.monotonic() + 30
        while unread and time.monotonic() < deadline:
            for message in consumer.consume(unread, 1.0):
                if message.error() is None:
                    latest = max(latest, message.timestamp()[1])
                    unread -= 1
        return latest / 1000
    finally:
        consumer.close()


def vote_to_tally_latency(settings: Settings, votes: int = 400, polls: int = 20) -> dict[str, Any]:
    provision(settings)
    group = settings.model_copy(update={"fold_group": f"bench-latency-{uuid.uuid4().hex[:6]}"})
    stream = f"bench-{uuid.uuid4().hex[:8]}"
    producer = EventProducer(group, Codec.from_settings(group))
    worker = started_worker(group)
    while not caught_up(group, source_topics()):  # a new group folds the log there is first
        time.sleep(0.5)
    arrivals: dict[tuple[str, int], float] = {}  # (poll key, voters) -> first seen
    stop = threading.Event()
    reader = threading.Thread(target=_read_tallies, args=(group, stream, arrivals, stop))
    reader.start()
    try:
        options = [{"option_id": o, "text": o} for o in ("a", "b")]
        for number in range(polls):
            poll = f"p{number}"
            producer.append_all(
                [
                    _event(
                        "livefold.polls.PollCreated",
                        stream,
                        "host",
                        poll_id=poll,
                        question="?",
                        options=options,
                        multi_select=False,
                        allow_vote_change=False,
                        duration_seconds=3600,
                    ),
                    _event(
                        "livefold.polls.PollOpened", stream, "host", poll_id=poll, closes_at=None
                    ),
                ]
            )
        time.sleep(1.0)
        sent: dict[tuple[str, int], float] = {}
        for number in range(votes):
            poll = f"p{number % polls}"
            vote = _event(
                "livefold.polls.VoteCast",
                stream,
                f"viewer{number}",
                poll_id=poll,
                option_ids=["a" if number % 3 else "b"],
            )
            sent[(f"{stream}/{poll}", number // polls + 1)] = time.perf_counter()
            producer.append(vote)
            time.sleep(0.4 / polls)
        producer.flush()
        deadline = time.monotonic() + 10
        while len([k for k in sent if k in arrivals]) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join()
        producer.close()
        worker.stop()
    latencies = sorted((arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals)
    return {
        "votes": votes,
        "tallies_seen": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
        "max_ms": round(latencies[-1], 1),
    }


def _event(type_: str, stream: str, actor: str, **payload: Any) -> Any:
    return new_event(
        type_, stream_id=stream, actor_id=actor, occurred_at=datetime.now(UTC), **payload
    )


def _read_tallies(
    settings: Settings, stream: str, arrivals: dict[tuple[str, int], float], stop: threading.Event
) -> None:
    consumer = Consumer(
        {
            **settings.kafka_config(),
            "group.id": f"bench-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    topic = state_topic("polls")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    assigned = []
    for partition in partitions:
        tp = TopicPartition(topic, partition)
        _, tp.offset = retried(partial(consumer.get_watermark_offsets, tp, 10), 30.0)
        assigned.append(tp)
    consumer.assign(assigned)
    try:
        while not stop.is_set():
            for message in consumer.consume(500, 0.05):
                now = time.perf_counter()
                if message.error() is not None or message.value() is None:
                    continue
                record = from_record(message.value() or b"")
                if record.stream_id == stream and record.kind == "update":
                    arrivals.setdefault((record.key, int(record.value["voters"])), now)
    finally:
        consumer.close()


BENCHMARKS = {
    "fold_worker_throughput": fold_worker_throughput,
    "fold_worker_chat": fold_worker_chat,
    "vote_to_tally_latency": vote_to_tally_latency,
}
