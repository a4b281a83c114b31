"""`python -m agents.notify`: delivers notifications outside the app, by Web Push (VAPID) and
signed webhooks (docs/notifications.md).

It follows two topics from their start: `livefold.notifications.v1` for where each user wants
them (`PushSubscribed`, `WebhookRegistered`, ... keyed by user) and the notifications state topic
for who follows what and for the notifications themselves (`streams.inboxes.Inboxes`, as the
gateways read it). A notification (a notice on that topic) is delivered once this process has
read both topics to the end it found at start, if it comes after the position delivered last
(committed in Kafka for the group `livefold-notify`): a restart neither repeats what was
delivered nor skips what came while it was down; the first start delivers only what comes after
it. Delivery is at least once: a failed push or webhook is tried again with exponential backoff
(`ATTEMPTS` tries), and receivers dedupe on the notification id. Destinations are served side by
side (`agents.delivery_lanes`), so one that hangs delays only its own notifications; the group's
position moves past a notification once all its deliveries ended. A notification waits until the
registrations appended before it are read too (the two topics are fetched apart, and a push
subscription made just before a stream went live would otherwise be missed).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from agents.delivery_lanes import Lanes, Progress
from agents.service import AgentService
from livefold.install_secrets import vapid_keys, webhook_secret
from livefold.settings import Settings
from streams.catalog import event_topic, state_topic
from streams.codec import Codec, DecodeError
from streams.consumer import Positions, TopicFollower, read_up_to
from streams.inboxes import Inboxes
from streams.state import from_record

log = logging.getLogger("livefold.notify")

GROUP = "livefold-notify"
EVENTS = event_topic("notifications")
NOTIFIED = state_topic("notifications")
ATTEMPTS = 6
FIRST_RETRY = 0.5  # seconds, doubling
PUSH_TTL = 3600  # seconds a push service keeps an undelivered message
LANES = 32  # destinations delivered to at once
REGISTRATIONS_WAIT = 30.0  # seconds a notification waits for the registrations to be read


Job = tuple[tuple[int, int], list[tuple[list[str], dict[str, Any]]]]


@dataclass
class Registrations:
    """Where each user wants their notifications, folded from their account events."""

    pushes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # user->endpoint
    webhooks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # user->id

    def apply(self, event_type: str, user: str, body: dict[str, Any]) -> None:
        name = event_type.rsplit(".", 1)[-1]
        if name == "PushSubscribed":
            keys = {"p256dh": body["p256dh"], "auth": body["auth"]}
            self.pushes.setdefault(user, {})[body["endpoint"]] = {
                "endpoint": body["endpoint"],
                "keys": keys,
            }
        elif name == "PushUnsubscribed":
            self.pushes.get(user, {}).pop(body["endpoint"], None)
        elif name == "WebhookRegistered":
            self.webhooks.setdefault(user, {})[body["webhook_id"]] = dict(body)
        elif name == "WebhookRemoved":
            self.webhooks.get(user, {}).pop(body["webhook_id"], None)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`Livefold-Signature`'s value: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def with_retries(send: Callable[[], bool], what: str, stopping: threading.Event) -> bool:
    """Call `send` until it returns True, with exponential backoff; False after ATTEMPTS."""
    delay = FIRST_RETRY
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if send():
                return True
        except (httpx.HTTPError, WebPushException, OSError) as error:
            log.warning("%s: attempt %d failed: %r", what, attempt, error)
        if attempt < ATTEMPTS and stopping.wait(delay):
            return False
        delay *= 2
    log.error("%s: given up after %d attempts", what, ATTEMPTS)
    return False


class Deliverer:
    def __init__(self, settings: Settings, codec: Codec, live_file: Path | None = None):
        self.settings = settings
        self.codec = codec
        self.live_file = live_file
        self.registrations = Registrations()
        self.inboxes = Inboxes()
        keys = vapid_keys(settings.data_dir)
        self.vapid = Vapid02.from_pem(keys["private_pem"].encode())
        self.vapid_subject = f"mailto:notifications@{settings.host or 'localhost'}"
        self.http = httpx.Client(timeout=10.0)
        # a state record's position and the (users, notification) pairs it brought
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.lanes = Lanes(LANES)
        self.progress = Progress()
        self.committing = threading.Lock()
        self.committed: dict[int, int] = {}  # partition -> the group's position, as committed
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.offsets = Consumer(
            {**settings.kafka_config(), "group.id": GROUP, "enable.auto.commit": False}
        )
        self.follower = TopicFollower(
            settings.kafka_config(), [EVENTS, NOTIFIED], self.on_records, "notify"
        )
        self.start_ends: Positions = {}
        self.reached: Positions = {}  # what the follower has read, both topics
        self.progressed = threading.Condition()
        self.from_offsets: dict[int, int] = {}  # state topic partition -> first to deliver

    def start(self) -> None:
        self.start_ends = self.follower.start(timeout=60.0)
        partitions = [p for (t, p) in self.start_ends if t == NOTIFIED]
        committed = self.offsets.committed([TopicPartition(NOTIFIED, p) for p in partitions], 30)
        for found in committed:
            first = (
                found.offset if found.offset >= 0 else self.start_ends[(NOTIFIED, found.partition)]
            )
            self.from_offsets[found.partition] = first
        if not any(self.start_ends.values()):  # nothing to read first
            self.ready.set()
        threading.Thread(target=self.deliver_forever, name="notify-deliver", daemon=True).start()

    def on_records(self, records: list[Message], reached: Positions) -> None:
        for message in records:
            if message.topic() == EVENTS:
                self._registration(message)
                continue
            try:
                state = from_record(message.value() or b"")
            except ValueError as error:
                log.warning("not a state record (%s); skipped", error)
                continue
            position = (message.partition() or 0, message.offset() or 0)
            notified = list(self.inboxes.apply(state))
            if notified and position[1] >= self.from_offsets.get(position[0], 0):
                self.jobs.put((position, notified))
        if read_up_to(reached, self.start_ends):
            self.ready.set()
        with self.progressed:
            self.reached = reached
            self.progressed.notify_all()

    def _registration(self, message: Message) -> None:
        try:
            event = self.codec.decode(message.value() or b"")
        except DecodeError as error:
            log.warning("not a notifications event (%s); skipped", error.reason)
            return
        self.registrations.apply(event.type, event.stream_id, event.body)

    def deliver_forever(self) -> None:
        """Hands each notification's deliveries to their destinations' lanes, in log order."""
        self.ready.wait()
        while not self.stopping.is_set():
            try:
                (partition, offset), notified = self.jobs.get(timeout=1.0)
            except queue.Empty:
                continue
            self.wait_for_registrations()
            deliveries = [
                d for users, n in notified for user in users for d in self.deliveries(user, n)
            ]
            log.info(
                "DEBUG %s:%s %d deliveries for %s",
                partition,
                offset,
                len(deliveries),
                [u for u, _ in notified],
            )
            self.commit(partition, self.progress.add(partition, offset, len(deliveries)))
            for destination, send, what in deliveries:
                self.lanes.put(destination, partial(self.deliver, send, what, partition, offset))

    def wait_for_registrations(self) -> None:
        """Until the follower has read every registration appended so far: one made just before
        a notification (its own topic, read apart) is then known when it is delivered."""
        try:
            appended = self.follower.end_offsets(topic=EVENTS)
        except KafkaException as error:
            log.warning("could not read the registrations' ends (%s); delivering as known", error)
            return
        with self.progressed:
            self.progressed.wait_for(
                lambda: self.stopping.is_set() or read_up_to(self.reached, appended),
                REGISTRATIONS_WAIT,
            )

    def deliveries(
        self, user: str, notification: dict[str, Any]
    ) -> list[tuple[str, Callable[[], bool], str]]:
        """(destination, send, what) for each of the user's destinations that takes it."""
        body = json.dumps(notification, separators=(",", ":"), ensure_ascii=False).encode()
        found: list[tuple[str, Callable[[], bool], str]] = []
        for subscription in list(self.registrations.pushes.get(user, {}).values()):
            endpoint = subscription["endpoint"]
            send = partial(self.push, user, subscription, body)
            found.append((f"push {endpoint}", send, f"push to {user} ({endpoint[:60]})"))
        for hook in list(self.registrations.webhooks.get(user, {}).values()):
            kinds = hook.get("kinds") or []
            if kinds and notification.get("kind") not in kinds:
                continue
            send = partial(self.post, hook, notification, body)
            what = f"webhook {hook['webhook_id']} of {user}"
            found.append((f"webhook {hook['webhook_id']}", send, what))
        return found

    def deliver(self, send: Callable[[], bool], what: str, partition: int, offset: int) -> None:
        try:
            with_retries(send, what, self.stopping)
        finally:
            self.commit(partition, self.progress.done(partition, offset))

    def commit(self, partition: int, up_to: int | None) -> None:
        if up_to is None:
            return
        with self.committing:  # lanes end in any order: a position only moves forward
            if self.stopping.is_set() or up_to <= self.committed.get(partition, -1):
                return
            self.committed[partition] = up_to
            self.offsets.commit(
                offsets=[TopicPartition(NOTIFIED, partition, up_to)], asynchronous=False
            )

    def push(self, user: str, subscription: dict[str, Any], body: bytes) -> bool:
        claims: dict[str, str | int] = {"sub": self.vapid_subject}
        try:
            webpush(
                subscription,
                body.decode(),
                vapid_private_key=self.vapid,
                vapid_claims=claims,
                ttl=PUSH_TTL,
                timeout=10.0,
            )
        except WebPushException as error:
            status = getattr(error.response, "status_code", None)
            if status in (404, 410):  # the browser dropped the subscription
                self.registrations.pushes.get(user, {}).pop(subscription["endpoint"], None)
                return True
            raise
        return True

    def post(self, hook: dict[str, Any], notification: dict[str, Any], body: bytes) -> bool:
        timestamp = int(time.time())
        secret = webhook_secret(self.settings.data_dir, hook["webhook_id"])
        headers = {
            "Content-Type": "application/json",
            "Livefold-Webhook-Id": hook["webhook_id"],
            "Livefold-Notification-Id": str(notification.get("notification_id")),
            "Livefold-Timestamp": str(timestamp),
            "Livefold-Signature": signature(secret, timestamp, body),
        }
        answer = self.http.post(hook["url"], content=body, headers=headers)
        if not answer.is_success:
            log.warning("webhook %s answered %d", hook["webhook_id"], answer.status_code)
        return answer.is_success

    def run(self) -> None:
        while not self.stopping.is_set():
            if self.follower.failure is not None:
                raise RuntimeError(f"notify stopped following: {self.follower.failure!r}")
            if self.live_file is not None and self.ready.is_set():
                self.live_file.touch()
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        self.lanes.stop()
        self.follower.stop()
        with self.committing:
            self.offsets.close()
        self.http.close()


@dataclass
class NotifyService(AgentService):
    def command(self) -> list[str]:
        return [sys.executable, "-m", "agents.notify", "--live-file", str(self.heartbeat_file)]

    def is_ready(self) -> bool:
        return self.heartbeat_file.exists()


def service(settings: Settings) -> NotifyService:
    return NotifyService(name="notify", workdir=settings.data_dir / "notify", settings=settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.notify", description=__doc__)
    parser.add_argument("--live-file", type=Path, help="touched every second while working")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    if (refused := settings.deployment_error("notify")) is not None:
        sys.exit(refused)
    deliverer = Deliverer(settings, Codec.from_settings(settings), args.live_file)
    deliverer.start()
    try:
        deliverer.run()
    except KeyboardInterrupt:
        pass
    finally:
        deliverer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
