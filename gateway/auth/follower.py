"""Feeds an `AccountDirectory` from `livefold.accounts.v1`: everything from offset zero at boot,
then each new record as it comes (`streams.consumer.TopicFollower`). No consumer group: every
gateway process reads every partition, which is what makes them all agree on accounts,
sessions and roles."""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaException, Message

from gateway import metrics
from gateway.auth.directory import AccountDirectory
from livefold.data_keys import KeyStoreUnavailable
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec, DecodeError
from streams.consumer import EventReader, Positions, TopicFollower, position_of
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
        self._stopping = threading.Event()
        self._follower = TopicFollower(
            settings.kafka_config(), [ACCOUNTS_TOPIC], self._fold_all, "livefold-accounts-follower"
        )
        self._reader = EventReader(self._follower.consumer, codec, deadletter)

    def start(self, timeout: float = 60.0) -> None:
        """Assign every partition from the start and return once what the topic held is folded."""
        try:
            ends = self._follower.start(timeout)
        except KafkaException as error:
            self._follower.stop()
            raise FollowerError(
                f"{ACCOUNTS_TOPIC} could not be read ({error}): is Kafka up, and the stack "
                "provisioned? (livefold run does it; tests use the stack fixture)"
            ) from error
        try:
            self._wait_until_read(ends, timeout)
        except FollowerError:
            self.stop()
            raise

    def catch_up(self, timeout: float = 10.0) -> None:
        """Return once everything the topic holds now is folded: what other gateways appended
        until this moment, on every partition, is then visible here."""
        try:
            ends = self._follower.end_offsets(timeout)
        except KafkaException as error:
            raise FollowerError(
                f"Kafka did not give the end of {ACCOUNTS_TOPIC}: {error}"
            ) from error
        self._wait_until_read(ends, timeout)

    def _wait_until_read(self, ends: Positions, timeout: float) -> None:
        for (_, partition), end in ends.items():
            if end > 0 and not self.directory.wait_for(partition, end - 1, timeout):
                raise FollowerError(
                    f"{ACCOUNTS_TOPIC} partition {partition} was not read to offset {end} "
                    f"within {timeout:.0f}s"
                )

    def alive(self) -> bool:
        """False once the following thread ended without being asked to."""
        return self._stopping.is_set() or self._follower.failure is None

    def stop(self) -> None:
        self._stopping.set()
        self._follower.stop()

    def _fold_all(self, messages: list[Message], _: Positions) -> None:
        for message in messages:
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
