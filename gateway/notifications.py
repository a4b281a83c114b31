"""Notifications: the signed-in user's list (streams/inboxes.py), this install's VAPID public
key, and where else to deliver them: Web Push subscriptions and signed webhooks (events keyed
by the user's id, delivered by agents/notify.py). docs/notifications.md."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import invalid
from gateway.reads import Param, Read, query_int, ready_gateway
from gateway.runtime import gateway_of
from gateway.writes import Context, Who, Write, principal_of
from livefold.install_secrets import vapid_keys, webhook_secret
from livefold.notifications import KINDS
from streams.validation import FieldError

EVENTS = "livefold.notifications"


async def notifications(request: Request) -> Response:
    gateway = ready_gateway(request)
    user = principal_of(request).user_id
    limit = query_int(request, "limit", 50, 1, 200)
    before = query_int(request, "before", 0, 0, 2**62) or None
    listed = gateway.inboxes.listed(user, limit, before)
    following = sorted(gateway.inboxes.following.get(user, ()))
    return JSONResponse({"notifications": listed, "following": following})


async def vapid_public_key(request: Request) -> Response:
    keys = vapid_keys(gateway_of(request).settings.data_dir)
    return JSONResponse({"public_key": keys["public_key"]})


def _url(name: str, value: object, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        raise invalid([FieldError(name, f"must be an absolute {' or '.join(schemes)} URL")])


async def check_subscription(context: Context) -> None:
    _url("endpoint", context.payload.get("endpoint"), ("https", "http"))


async def check_webhook(context: Context) -> None:
    _url("url", context.payload.get("url"), ("https", "http"))
    unknown = sorted(set(context.payload.get("kinds") or ()) - set(KINDS))
    if unknown:
        raise invalid([FieldError("kinds", f"unknown kinds {unknown}; known: {list(KINDS)}")])
    secret = webhook_secret(context.gateway.settings.data_dir, context.event_id)
    context.answer["secret"] = secret  # told once, here; deliveries are signed with it


WRITES = [
    Write(
        "POST",
        "/notifications/push-subscriptions",
        f"{EVENTS}.PushSubscribed",
        "Deliver your notifications to this browser by Web Push (its PushSubscription)",
        Who.ANYONE,
        prepare=check_subscription,
        account=True,
    ),
    Write(
        "DELETE",
        "/notifications/push-subscriptions",
        f"{EVENTS}.PushUnsubscribed",
        "Stop Web Push to this subscription endpoint",
        Who.ANYONE,
        account=True,
    ),
    Write(
        "POST",
        "/notifications/webhooks",
        f"{EVENTS}.WebhookRegistered",
        "POST your notifications to a URL, signed (the answer holds the signing secret)",
        Who.ANYONE,
        generated=("webhook_id",),
        prepare=check_webhook,
        account=True,
    ),
    Write(
        "DELETE",
        "/notifications/webhooks/{webhook_id}",
        f"{EVENTS}.WebhookRemoved",
        "Stop a webhook",
        Who.ANYONE,
        path_fields=("webhook_id",),
        account=True,
    ),
]

READS = [
    Read(
        "/notifications",
        notifications,
        "Your notifications, newest first, and the streams you follow",
        (
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "how many (50)"),
            Param("before", {"type": "integer"}, "only those older than this (epoch ms)"),
        ),
    ),
    Read(
        "/notifications/vapid-public-key",
        vapid_public_key,
        "This install's VAPID public key: the applicationServerKey for pushManager.subscribe",
    ),
]
