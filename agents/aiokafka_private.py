"""Every use of aiokafka's internals (aiokafka is pinned exactly, pyproject.toml).

`bound_fetch_wait` sets how long a fetch waits for data on the consumer Faust built (Faust
fixes 1.5 s; `agents/faust_private.py` explains why the fold worker wants less): aiokafka reads
the attribute when it starts the consumer.

`murmur2` is the partitioner's hash, from a module aiokafka does not document: the fold workers
must put a stream on the same partition as Kafka's Java client and `streams.producer` do
(`agents.driver.partition_of`), so a change to it would split streams across workers silently.
`RELIES_ON` lists the private attributes used and `PINNED_SOURCE` the sha256 of the aiokafka
code whose behaviour is relied on; tests/test_library_internals.py fails, naming it, when the
installed aiokafka differs, and when code outside this module reaches into aiokafka.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]

__all__ = ["bound_fetch_wait", "murmur2"]

RELIES_ON: dict[type, tuple[str, ...]] = {AIOKafkaConsumer: ("_fetch_max_wait_ms",)}
PINNED_SOURCE: dict[str, str] = {
    "aiokafka.consumer.consumer.AIOKafkaConsumer.start": (
        "2f1ba70443327538800d348e61042cdedd5a5e6306f40ebe1a06dddba7494c45"
    ),
    "aiokafka.partitioner.murmur2": (
        "62179ca184949379a640dfece86b25050b0f1bc8299b7cf6ebb7fe821db78326"
    ),
}


def bound_fetch_wait(consumer: Any, milliseconds: int) -> None:
    """Before `consumer.start()`: its fetches return after `milliseconds` without data."""
    assert isinstance(consumer, AIOKafkaConsumer)
    consumer._fetch_max_wait_ms = milliseconds
