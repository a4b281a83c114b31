"""Feeds an `AccountDirectory` from `livefold.accounts.v1`: everything from offset zero at boot,
then each new record as it comes. No consumer group: every gateway process reads every
partition, which is what makes them all agree on accounts, sessions and roles."""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from gateway import metrics
from gateway.auth.directory import AccountDirectory
from livefold.data_keys import KeyStoreUnavailable
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec, DecodeError
from streams.consumer import EventReader, consumer_config, position_of
from streams.producer import EventProducer

log = logging.getLogger(__name__)

ACCOUNTS_TOPIC = event_topic("accounts")
RETRY_SECONDS = 1.0


class FollowerError(RuntimeError):
    """The accounts topic could not be read; the message names the cause."""


class AccountsFollower:
    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        directory: AccountDirectory,
        deadletter: EventProducer,
    ):
        self.directory = directory
        self._consumer = Consumer(
            consumer_config(settings, "livefold-accounts-follower", **{"fetch.wait.max.ms": 50})
        )
        self._reader = EventReader(self._consumer, codec, deadletter)
        # A second handle for watermark queries from request threads: a confluent-kafka
        # consumer blocks other calls while its thread sits in consume().
        self._probe = Consumer(consumer_config(settings, "livefold-accounts-probe"))
        self._probe_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="accounts-follower", daemon=True)
        self._ends: dict[int, int] = {}

    def start(self, timeout: float = 60.0) -> None:
        """Assign every partition from the start and return once what the topic held is folded."""
        try:
            metadata = self._consumer.list_topics(ACCOUNTS_TOPIC, timeout=10)
        except Exception as error:
            raise FollowerError(f"Kafka did not answer: {error}") from error
        topic = metadata.topics.get(ACCOUNTS_TOPIC)
        if topic is None or topic.error is not None or not topic.partitions:
            raise FollowerError(
                f"topic {ACCOUNTS_TOPIC} does not exist: provision the stack first "
                "(livefold run does; tests use the stack fixture)"
            )
        partitions = sorted(topic.partitions)
        self._ends = _watermarks(self._consumer, partitions, timeout)
        self._consumer.assign(
            [TopicPartition(ACCOUNTS_TOPIC, p, OFFSET_BEGINNING) for p in partitions]
        )
        self._thread.start()
        try:
            self._wait_until_read(self._ends, timeout)
        except FollowerError:
            self.stop()
            raise

    def catch_up(self, timeout: float = 10.0) -> None:
        """Return once everything the topic holds now is folded: what other gateways appended
        until this moment, on every partition, is then visible here."""
        with self._probe_lock:
            ends = _watermarks(self._probe, list(self._ends), timeout)
        self._wait_until_read(ends, timeout)

    def _wait_until_read(self, ends: dict[int, int], timeout: float) -> None:
        for partition, end in ends.items():
            if end > 0 and not self.directory.wait_for(partition, end - 1, timeout):
                raise FollowerError(
                    f"{ACCOUNTS_TOPIC} partition {partition} was not read to offset {end} "
                    f"within {timeout:.0f}s"
                )

    def alive(self) -> bool:
        """False once the following thread ended without being asked to."""
        return self._stopping.is_set() or self._thread.is_alive() or not self._thread.ident

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._consumer.close()
        with self._probe_lock:
            self._probe.close()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            for message in self._consumer.consume(500, 0.2):
                if message.error() is not None:
                    self._reader.decode(message)  # raises on a fatal error, skips notices
                    continue
                self._fold_until_done(message)

    def _fold_until_done(self, message: Message) -> None:
        _, partition, offset = position_of(message)
        while not self._stopping.is_set():
            try:
                record = self._reader.decode(message)
                self.directory.apply(None if record is None else record.event, partition, offset)
                return
            except (KeyStoreUnavailable, DecodeError) as error:
                # Retriable (EventReader raises only those DecodeErrors): the registry or the
                # key store is down. Folding on without the record (or calling its profile
                # erased) would be wrong; wait and retry.
                log.warning("accounts record %s/%s not folded yet: %s", partition, offset, error)
            except Exception as error:
                # Poison: the record itself cannot be folded, and would fail the same way on
                # every retry while every later account change waited behind it.
                log.exception("accounts record %s/%s cannot be folded", partition, offset)
                self._reader.dead_letter(message, f"the accounts fold failed: {error!r}")
                metrics.poison_records.labels("accounts").inc()
                self.directory.apply(None, partition, offset)
                return
            time.sleep(RETRY_SECONDS)


def _watermarks(consumer: Consumer, partitions: list[int], timeout: float) -> dict[int, int]:
    """The end offset of each partition. Retried: just after a topic is created or a broker
    restarts, partitions answer "not leader" for a moment."""
    deadline = time.monotonic() + timeout
    ends: dict[int, int] = {}
    for partition in partitions:
        while partition not in ends:
            try:
                _, ends[partition] = consumer.get_watermark_offsets(
                    TopicPartition(ACCOUNTS_TOPIC, partition), timeout=max(1.0, timeout / 4)
                )
            except KafkaException as error:
                if time.monotonic() > deadline:
                    reason = f"Kafka did not give the end of {ACCOUNTS_TOPIC}: {error}"
                    raise FollowerError(reason) from error
                time.sleep(0.2)
    return ends
