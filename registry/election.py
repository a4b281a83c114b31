"""Which registry of a group writes: the one Kafka's group coordinator hands `_schemas`'
only partition to.

Every registry joins the consumer group `group` on `_schemas` with its own address as client
id, pauses what it is assigned and fetches nothing through the group (reading is the
follower's job, `registry/store.py`). Whoever holds partition 0 leads; the others find the
leader's address in the group's description and forward writes to it, as Confluent's registry
does. When the leader stops, leaves or stops heartbeating, the coordinator assigns the
partition to another member. A leader that has not yet noticed it was replaced could still
write for a moment; the store's fold keeps the first claim of an id, and a write is answered
only after the writer has read it back as the winner, so an id is never handed out twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

log = logging.getLogger("registry.election")


class Election:
    def __init__(self, connection: Mapping[str, Any], topic: str, group: str, url: str):
        """`connection`: the brokers and how to log in (`Settings.kafka_config()`)."""
        self.topic, self.group, self.url = topic, group, url
        self._consumer = Consumer(
            {
                **connection,
                "group.id": group,
                "client.id": url,
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,  # the broker's minimum: a dead leader is replaced fast
                "heartbeat.interval.ms": 1000,
                "partition.assignment.strategy": "range",
            }
        )
        self._admin = AdminClient(dict(connection))
        self._leading = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._take_part, name="election", daemon=True)

    @property
    def leading(self) -> bool:
        return self._leading

    def start(self) -> None:
        self._consumer.subscribe(
            [self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._leading = False
        self._consumer.close()  # leaves the group: another member leads at once

    def leader(self, timeout: float) -> str | None:
        """The leader's address (this registry's own when it leads), waiting out a rebalance;
        None if no member holds the partition within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set():
            if self._leading:
                return self.url
            found = self._described_leader()
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
        return None

    def _described_leader(self) -> str | None:
        try:
            future = self._admin.describe_consumer_groups([self.group])[self.group]
            description = future.result(timeout=5)
        except KafkaException as error:
            log.warning("cannot describe group %s: %s", self.group, error)
            return None
        for member in description.members:
            partitions = member.assignment.topic_partitions if member.assignment else []
            if any(tp.topic == self.topic and tp.partition == 0 for tp in partitions):
                return str(member.client_id)
        return None

    def _take_part(self) -> None:
        while not self._stopping.is_set():
            # Polling keeps the membership and runs the assignment callbacks; nothing is fetched.
            self._consumer.poll(0.2)

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)  # now, so that pausing them sticks
        consumer.pause(partitions)
        self._leading = any(tp.partition == 0 for tp in partitions)
        log.info("%s %s the registry group %s", self.url, self._role(), self.group)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._leading = False
        log.info("%s %s the registry group %s", self.url, self._role(), self.group)

    def _role(self) -> str:
        return "leads" if self._leading else "follows in"
