"""The fan-out load generator, spread over processes so that it is not what limits a run: N
subscribers over several subscriber processes (uvloop, `bench.wsload.Subscriber`), and one
publisher process. Each process reports its own CPU time, so a result says what the load
generator itself used on the shared cores.

    with Subscribers(target, count, sampled) as pool:   # connected, subscribed
        pool.start(since)                                # count from here
        publisher(...)                                   # in a process of its own
        pool.drained(...)                                # wait for the tail
        seen = pool.stop()

Everything stays on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import array
import asyncio
import multiprocessing
import resource
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from bench.wsload import Counts, Samples, Subscriber

SOCKETS_PER_PROCESS = 2_500
CONNECT_BATCH = 500
DECODED_PER_SECOND = 20_000  # messages all sampled sockets together time, at most


@dataclass(frozen=True)
class Target:
    """Where and how a subscriber connects: the upgrade path and the frames it sends first."""

    host: str
    port: int
    path: str
    hello: list[bytes]


@dataclass
class Seen:
    """What the subscribers saw during a run."""

    frames: int = 0
    bytes: int = 0
    closed: int = 0
    sampled: int = 0  # sockets that timed each message
    pairs: array.array[float] = field(default_factory=lambda: array.array("d"))
    arrivals: dict[str, float] = field(default_factory=dict)  # the probe socket's
    cpu_seconds: float = 0.0  # of the subscriber processes, while counting


def sampled_count(subscribers: int, rate: float) -> int:
    """Sockets that decode: enough for a faithful p99, few enough to stay cheap."""
    return max(4, min(100, subscribers, int(DECODED_PER_SECOND / rate)))


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _subscriber_process(
    conn: Connection, target: Target, count: int, sampled: list[int], probe: int | None
) -> None:
    _raise_open_files()
    uvloop.run(_subscribers(conn, target, count, set(sampled), probe))


async def _subscribers(
    conn: Connection, target: Target, count: int, sampled: set[int], probe: int | None
) -> None:
    loop = asyncio.get_running_loop()
    counts, samples = Counts(), Samples()
    opened: list[Subscriber] = []
    for start in range(0, count, CONNECT_BATCH):

        async def one(index: int) -> Subscriber:
            _, protocol = await loop.create_connection(
                lambda: Subscriber(
                    target.host,
                    target.port,
                    target.hello,
                    counts,
                    target.path,
                    samples=samples if index in sampled else None,
                    probe=index == probe,
                ),
                target.host,
                target.port,
            )
            await protocol.upgraded
            return protocol

        batch = range(start, min(count, start + CONNECT_BATCH))
        opened += await asyncio.gather(*(one(index) for index in batch))
    conn.send(len(opened))
    cpu = 0.0
    while True:
        command, argument = await asyncio.to_thread(conn.recv)
        if command == "start":
            await asyncio.sleep(max(0.0, argument - time.time()))
            samples.reset(argument)
            counts.frames = counts.bytes = 0
            cpu = time.process_time()
        elif command == "count":
            conn.send(len(samples.pairs) // 2)
        elif command == "stop":
            cpu = time.process_time() - cpu
            for subscriber in opened:
                if subscriber.transport is not None:
                    subscriber.transport.abort()
            conn.send(
                (counts.frames, counts.bytes, counts.closed, samples.pairs, samples.arrivals, cpu)
            )
            return


class Subscribers:
    """`count` subscribers of `target` over processes of at most SOCKETS_PER_PROCESS sockets
    (two at least), `sampled` of them (spread evenly) timing every message; the first sampled
    one is the probe, which keeps each message's arrival."""

    def __init__(self, target: Target, count: int, sampled: int):
        self.target, self.count = target, count
        processes = max(2, -(-count // SOCKETS_PER_PROCESS))
        shares = [count // processes + (n < count % processes) for n in range(processes)]
        chosen = sorted({n * count // sampled for n in range(max(1, min(sampled, count)))})
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        first = 0
        for share in shares:
            mine = [i - first for i in chosen if first <= i < first + share]
            probe = 0 if first == 0 else None  # subscriber 0 is always sampled
            parent, child = context.Pipe()
            process = context.Process(
                target=_subscriber_process,
                args=(child, target, share, mine, probe),
                daemon=True,
            )
            self.pipes.append(parent)
            self.processes.append(process)
            first += share
        self.sampled = len(chosen)

    def __enter__(self) -> Subscribers:
        for process in self.processes:
            process.start()
        for pipe in self.pipes:
            if not pipe.poll(120):
                raise RuntimeError("subscribers did not connect within 120 s")
            pipe.recv()
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()

    def start(self, since: float) -> None:
        """Count messages sent from `since` (epoch seconds) on; `since` is also when."""
        for pipe in self.pipes:
            pipe.send(("start", since))

    def timed(self) -> int:
        """Message arrivals the sampled sockets timed so far."""
        for pipe in self.pipes:
            pipe.send(("count", None))
        return sum(int(pipe.recv()) for pipe in self.pipes)

    def drained(self, expected: int, patience: float) -> float:
        """Wait until the sampled sockets timed `expected` arrivals or `patience` seconds
        passed without progress; the share still missing."""
        seen, last_progress = self.timed(), time.monotonic()
        while seen < expected and time.monotonic() - last_progress < patience:
            time.sleep(0.25)
            now = self.timed()
            if now > seen:
                seen, last_progress = now, time.monotonic()
        return max(0.0, 1 - seen / expected) if expected else 0.0

    def stop(self) -> Seen:
        seen = Seen(sampled=self.sampled)
        for pipe in self.pipes:
            pipe.send(("stop", None))
        for pipe in self.pipes:
            frames, size, closed, pairs, arrivals, cpu = pipe.recv()
            seen.frames += frames
            seen.bytes += size
            seen.closed += closed
            seen.pairs.extend(pairs)
            seen.arrivals.update(arrivals)
            seen.cpu_seconds += cpu
        return seen


def _publisher_process(conn: Connection, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    started = time.process_time()
    result = uvloop.run(work())
    conn.send((result, time.process_time() - started))


def run_publisher(work: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> dict[str, Any]:
    """Run `work()` (a picklable coroutine function) in a process of its own; its result with
    the process's CPU seconds."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_publisher_process, args=(child, work), daemon=True)
    process.start()
    try:
        if not parent.poll(600):
            raise RuntimeError("the publisher did not finish within 600 s")
        result, cpu = parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    return {**result, "publisher_cpu_seconds": round(cpu, 2)}
