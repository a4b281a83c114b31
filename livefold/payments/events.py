"""A payment outcome as the tips event it appends.

The event id derives from (provider, kind, the object the outcome is about), and the time from
the provider's event, so a webhook delivered twice, or two webhooks about one payment or one
refund, append the very same event: the tips fold applies an event id once, and refuses a second
capture of an idempotency key. A payment is therefore captured once however often it is told.
A refund livefold asked for is about its request (`refund_event_id`): the gateway knows the event
id before the webhook comes, and so tells a retried refund request that was already carried out.
"""

from __future__ import annotations

import uuid
from typing import Any

from livefold.payments.provider import Outcome, refund_subject
from livefold.tips import TIP_CAPTURED, TIP_FAILED, TIP_REFUNDED
from streams.events import SYSTEM_ACTOR, Event, new_event

NAMESPACE = uuid.UUID("5f0c2e7a-8b1d-4c3e-9a6f-0d2b7e4c1a93")


def event_id_of(outcome: Outcome) -> str:
    name = f"{outcome.provider}\n{outcome.kind}\n{outcome.subject_id}"
    return str(uuid.uuid5(NAMESPACE, name))


def refund_event_id(provider: str, request_key: str) -> str:
    """The TipRefunded event id a refund livefold asked for (RefundRequest) will have."""
    return str(uuid.uuid5(NAMESPACE, f"{provider}\nrefunded\n{refund_subject(request_key)}"))


def tip_event(outcome: Outcome) -> Event:
    common: dict[str, Any] = {
        "stream_id": outcome.stream_id,
        "event_id": event_id_of(outcome),
        "occurred_at": outcome.occurred_at,
        "tip_id": outcome.tip_id,
        "idempotency_key": outcome.idempotency_key,
    }
    if outcome.kind == "captured":
        return new_event(
            TIP_CAPTURED,
            actor_id=outcome.supporter,
            amount_minor=outcome.amount_minor,
            currency=outcome.currency,
            provider_reference=outcome.provider_reference,
            **common,
        )
    if outcome.kind == "failed":
        return new_event(TIP_FAILED, actor_id=outcome.supporter, reason=outcome.failure, **common)
    # The platform gives the money back, whoever asked for it.
    return new_event(
        TIP_REFUNDED,
        actor_id=SYSTEM_ACTOR,
        amount_minor=outcome.amount_minor,
        currency=outcome.currency,
        reason=outcome.reason,
        **common,
    )
