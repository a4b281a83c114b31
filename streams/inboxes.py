"""Each user's notifications, merged across streams from the `notifications` state topic
(livefold/notifications.py): the gateways' `GET /api/v1/notifications` and `notification`
frames, and the notifier's recipients (agents/notify.py).

The topic is never subscribed to: a stream's update lists what it notified (each notification
for its followers, or for one user), a `<stream>/f/<user>` update says whether a user follows
the stream, and a notice is one new notification, which goes to the sockets of its recipients
(the stream's followers known here, or its one user), subscribed to anything or not.
"""

from __future__ import annotations

from typing import Any

from streams.state import StateMessage

CHANNEL = "notifications"
LISTED = 200  # at most this many in one answer


class Inboxes:
    def __init__(self) -> None:
        self.followers: dict[str, set[str]] = {}  # stream -> followers
        self.following: dict[str, set[str]] = {}  # user -> streams followed
        self.notified: dict[str, list[dict[str, Any]]] = {}  # stream -> its notifications
        self.personal: dict[str, set[str]] = {}  # user -> streams that notified them alone

    def apply(self, message: StateMessage) -> list[tuple[list[str], dict[str, Any]]]:
        """Take a record of the topic in; return the (recipients, notification) to send."""
        stream, value = message.stream_id, message.value
        if message.kind == "notice":
            return [(self.recipients(value), value)]
        if message.kind != "update":
            return []
        if "/f/" in message.key:
            user = str(value.get("user"))
            if value.get("following"):
                self.followers.setdefault(stream, set()).add(user)
                self.following.setdefault(user, set()).add(stream)
            else:
                self.followers.get(stream, set()).discard(user)
                self.following.get(user, set()).discard(stream)
        elif message.key == stream:
            notifications = list(value.get("notifications") or [])
            self.notified[stream] = notifications
            for notification in notifications:
                if notification.get("recipient_id"):
                    self.personal.setdefault(notification["recipient_id"], set()).add(stream)
        return []

    def recipients(self, notification: dict[str, Any]) -> list[str]:
        recipient = notification.get("recipient_id")
        if recipient:
            return [recipient]
        return sorted(self.followers.get(str(notification.get("stream_id")), ()))

    def listed(self, user: str, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """The user's notifications, newest first; `before`: only those older than that."""
        found = []
        following = self.following.get(user, set())
        for stream in following | self.personal.get(user, set()):
            for notification in self.notified.get(stream, ()):
                mine = notification.get("recipient_id") == user or (
                    not notification.get("recipient_id") and stream in following
                )
                if mine and (before is None or notification["occurred_at"] < before):
                    found.append(notification)
        found.sort(key=lambda n: (n["occurred_at"], n["notification_id"]), reverse=True)
        return found[: min(limit, LISTED)]
