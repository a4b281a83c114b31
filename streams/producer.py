"""Appending events to Kafka. An append is acknowledged only once the broker's delivery report
says the record is durably written (acks=all, idempotent producer); a failure raises."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from livefold.settings import Settings
from streams.codec import Codec
from streams.events import Event

DeliveryCallback = Callable[[KafkaError | None, Message], None]
Headers = Sequence[tuple[str, str | bytes | None]]
RawRecord = tuple[str, bytes | None, bytes | None, int | None, Headers | None]  # topic, key,
# value (None: a tombstone), partition (None: by the key), headers


@dataclass(frozen=True)
class Ack:
    event_id: str
    topic: str
    partition: int
    offset: int


class AppendError(RuntimeError):
    """Kafka did not take the event; the caller must not report it as accepted."""


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return {
        **settings.kafka_config(),
        "enable.idempotence": True,
        "acks": "all",
        # Java clients and Faust (aiokafka) hash keys with murmur2; partitioning alike keeps
        # a stream's events and its Faust table entries on the same partition.
        "partitioner": "murmur2_random",
        # Throughput comes from batching: wait a little so many appends share one request.
        "linger.ms": 10,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "delivery.timeout.ms": 30_000,
        **overrides,
    }


class EventProducer:
    """One per process; thread-safe. A background thread serves delivery reports."""

    def __init__(self, settings: Settings, codec: Codec, **config: Any):
        self.codec = codec
        self._producer = Producer(producer_config(settings, **config))
        self._failures: list[str] = []  # of records sent without a future (`send_raw`)
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, daemon=True)
        self._poller.start()

    def append(self, event: Event, headers: Headers | None = None) -> Future[Ack]:
        """Encode (validation errors raise here, before anything is sent) and produce."""
        value = self.codec.encode(event)
        topic = self.codec.topic_of(event)
        return self.append_raw(topic, event.stream_id, value, event.event_id, headers)

    def append_raw(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        event_id: str = "",
        headers: Headers | None = None,
    ) -> Future[Ack]:
        acknowledged: Future[Ack] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                acknowledged.set_exception(AppendError(f"{topic}: {error.str()}"))
            else:
                acknowledged.set_result(
                    Ack(event_id, topic, message.partition() or 0, message.offset() or 0)
                )

        self._produce(topic, key, value, headers, on_delivery)
        return acknowledged

    async def append_async(self, event: Event) -> Ack:
        return await asyncio.wrap_future(self.append(event))

    def append_all(self, events: list[Event], timeout: float = 60.0) -> list[Ack]:
        """Append many events and wait for all of them: the throughput path. One shared slot
        list instead of a Future per event, which costs more than producing the record."""
        encoded = [(self.codec.topic_of(e), e.stream_id, self.codec.encode(e)) for e in events]
        outcomes: list[Ack | str | None] = [None] * len(events)

        def reporter(index: int, topic: str, event_id: str) -> DeliveryCallback:
            def on_delivery(error: KafkaError | None, message: Message) -> None:
                outcomes[index] = (
                    f"{topic}: {error.str()}"
                    if error is not None
                    else Ack(event_id, topic, message.partition() or 0, message.offset() or 0)
                )

            return on_delivery

        for index, ((topic, key, value), event) in enumerate(zip(encoded, events, strict=True)):
            self._produce(topic, key, value, None, reporter(index, topic, event.event_id))
        self.flush(timeout)
        failures = [outcome for outcome in outcomes if not isinstance(outcome, Ack)]
        if failures:
            raise AppendError(f"{len(failures)} of {len(events)} events failed: {failures[0]}")
        return cast(list[Ack], outcomes)

    def send_raw(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Produce without a future of its own (the fold worker's state and changelog records,
        many a second): a failed delivery is remembered, and `flush` raises it. A None value
        is a tombstone (compaction drops the key)."""
        self._produce(topic, key, value, headers, on_delivery or self._on_unwatched, partition)

    def send_all(self, records: list[RawRecord]) -> Future[None]:
        """Produce the records; one future, done once Kafka acknowledged all of them (or
        failed with the first failure)."""
        done: Future[None] = Future()
        if not records:
            done.set_result(None)
            return done
        unacknowledged = [len(records)]
        lock = threading.Lock()  # reports are served by whichever thread polls or flushes

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self._on_unwatched(error, message)
                if not done.done():
                    done.set_exception(AppendError(f"{message.topic()}: {error.str()}"))
                return
            with lock:
                unacknowledged[0] -= 1
                last = unacknowledged[0] == 0
            if last and not done.done():
                done.set_result(None)

        for topic, key, value, partition, headers in records:
            self.send_raw(topic, key, value, partition, headers, on_delivery)
        return done

    def _on_unwatched(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}: {error.str()}")

    def _produce(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: Headers | None,
        on_delivery: DeliveryCallback,
        partition: int | None = None,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    partition=-1 if partition is None else partition,
                    headers=None if headers is None else list(headers),
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                # The local queue is full: let delivery reports drain it, then retry.
                self._producer.poll(0.05)
            except KafkaException as error:
                raise AppendError(f"{topic}: {error}") from error

    def flush(self, timeout: float = 30.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise AppendError(f"{remaining} events still unacknowledged after {timeout}s")
        if self._failures:
            raise AppendError(f"{len(self._failures)} records failed: {self._failures[0]}")

    def close(self, timeout: float = 30.0) -> None:
        try:
            self.flush(timeout)
        finally:
            self._closing.set()
            self._poller.join()

    def _serve_reports(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)
