"""Deliveries run concurrently, one lane per destination (a push endpoint, a webhook): a
destination that hangs or keeps failing holds only its own lane, and each destination still
gets its notifications in log order. `Progress` says how far the log is delivered, for the
consumer group's commit: the lowest offset with a delivery not done yet."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("livefold.notify")


class Progress:
    """Per partition, the offsets whose deliveries are not all done (added in offset order)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, dict[int, int]] = {}  # partition -> offset -> deliveries left
        self._next: dict[int, int] = {}  # partition -> one past the newest offset added

    def add(self, partition: int, offset: int, deliveries: int) -> int | None:
        """An offset and how many deliveries it makes; the partition's commit point if that
        moved (nothing was open, so everything up to this offset is delivered)."""
        with self._lock:
            self._next[partition] = offset + 1
            pending = self._open.setdefault(partition, {})
            if deliveries:
                pending[offset] = deliveries
                return None
            return None if pending else offset + 1

    def done(self, partition: int, offset: int) -> int | None:
        """One of the offset's deliveries ended: the partition's commit point if that moved."""
        with self._lock:
            pending = self._open[partition]
            pending[offset] -= 1
            if pending[offset]:
                return None
            first = next(iter(pending)) == offset
            del pending[offset]
            return next(iter(pending), self._next[partition]) if first else None


class Lanes:
    """Runs each destination's deliveries one after another, destinations side by side."""

    def __init__(self, threads: int):
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="notify-lane")
        self._lock = threading.Lock()
        self._queued: dict[str, deque[Callable[[], object]]] = {}  # destination -> deliveries

    def put(self, destination: str, delivery: Callable[[], object]) -> None:
        with self._lock:
            queued = self._queued.get(destination)
            if queued is not None:  # its lane is running: it takes this one after the others
                queued.append(delivery)
                return
            self._queued[destination] = deque([delivery])
        self._pool.submit(self._drain, destination)

    def _drain(self, destination: str) -> None:
        while True:
            with self._lock:
                queued = self._queued[destination]
                if not queued:
                    del self._queued[destination]
                    return
                delivery = queued.popleft()
            try:
                delivery()
            except Exception:  # a bug in one delivery must not stop its destination's lane
                log.exception("delivery to %s failed", destination)

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
