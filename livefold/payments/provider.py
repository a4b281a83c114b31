"""What livefold asks of a payment provider, in its own terms: take money for a tip intent, give
money back, and turn the provider's signed webhooks into provider-neutral outcomes.

A provider never appends events itself: the webhook endpoint (gateway/payments.py) turns an
`Outcome` into a tips event (`livefold.payments.events`) and answers the provider only once
Kafka acknowledged it, so an unacknowledged outcome is delivered again by the provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from streams.events import Event

# Where the gateway serves the providers (gateway/payments.py).
WEBHOOK_PATH = "/api/v1/payments/webhook/{provider}"
SANDBOX_PAY_PATH = "/api/v1/payments/sandbox/pay"

OutcomeKind = Literal["captured", "failed", "refunded"]
# The reasons the TipFailed schema knows.
FailureReason = Literal[
    "declined", "insufficient_funds", "expired", "fraud_suspected", "provider_error", "other"
]


@dataclass(frozen=True)
class TipPayment:
    """The money a tip intent asks for; `idempotency_key` is the one the supporter's client
    chose."""

    tip_id: str
    stream_id: str
    supporter: str
    amount_minor: int
    currency: str  # ISO-4217, upper case
    idempotency_key: str

    @classmethod
    def of_intent(cls, event: Event) -> TipPayment:
        """The payment a TipIntentCreated event asks for."""
        body = event.body
        return cls(
            tip_id=str(body["tip_id"]),
            stream_id=event.stream_id,
            supporter=event.actor_id,
            amount_minor=int(body["amount_minor"]),
            currency=str(body["currency"]),
            idempotency_key=str(body["idempotency_key"]),
        )

    def metadata(self) -> dict[str, str]:
        """What the provider keeps with the payment and sends back in every webhook about it."""
        return {
            "tip_id": self.tip_id,
            "stream_id": self.stream_id,
            "supporter": self.supporter,
            "idempotency_key": self.idempotency_key,
        }


@dataclass(frozen=True)
class PaymentCreated:
    """What the supporter's client needs to pay: a client secret and the next step."""

    provider: str
    reference: str  # the provider's id of the payment (a PaymentIntent id)
    client_secret: str
    status: str
    next_action: dict[str, Any] | None = None


# The refund's metadata key naming the request that made it (RefundRequest.request_key).
REFUND_REQUEST = "refund_request"


def refund_subject(request_key: str) -> str:
    """What a refund livefold asked for is about (Outcome.subject_id): its request, so the
    refund's event id is known before the provider answers (livefold.payments.events)."""
    return f"{REFUND_REQUEST}:{request_key}"


@dataclass(frozen=True)
class RefundRequest:
    tip: TipPayment
    reference: str  # the payment to refund (TipCaptured.provider_reference)
    amount_minor: int
    request_key: str  # the refund request's own idempotency key: a retry refunds once
    reason: str | None = None

    def metadata(self) -> dict[str, str]:
        """What the provider keeps with the refund and sends back in its webhooks."""
        metadata = self.tip.metadata() | {REFUND_REQUEST: self.request_key}
        if self.reason:
            metadata["reason"] = self.reason[:500]
        return metadata


@dataclass(frozen=True)
class Outcome:
    """Money moved (or failed to): one tips event to append."""

    kind: OutcomeKind
    provider: str
    provider_event_id: str
    # The provider object the outcome is about: a payment for a capture, a refund for a refund,
    # the webhook event itself for a failure (a payment may fail several times, then succeed).
    # Two deliveries or two kinds of webhook about one object make one event id.
    subject_id: str
    tip_id: str
    stream_id: str
    supporter: str
    idempotency_key: str
    occurred_at: datetime
    amount_minor: int = 0
    currency: str = ""
    provider_reference: str | None = None
    failure: FailureReason = "other"
    reason: str | None = None


@dataclass(frozen=True)
class Ignored:
    """A genuine webhook that moves no tip money (another product's payment, an event type
    livefold does not follow); it is acknowledged so the provider stops sending it."""

    provider_event_id: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


class WebhookRejected(ValueError):
    """The webhook is not authentic or not readable; nothing is appended (HTTP 400)."""


class PaymentError(RuntimeError):
    """The provider refused or could not be reached. `retriable`: trying again may succeed."""

    def __init__(self, reason: str, *, retriable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable


class PaymentProvider(Protocol):
    name: str

    async def create_payment(self, tip: TipPayment) -> PaymentCreated:
        """Start taking the tip's money. The same tip (stream, idempotency key) asked again
        gives the same payment, never a second charge."""
        ...

    async def refund_payment(self, refund: RefundRequest) -> str:
        """Ask for money back; the outcome arrives as a webhook. Returns the refund's id."""
        ...

    async def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Outcome | Ignored:
        """Verify the webhook's signature, then read it; raise WebhookRejected if it fails."""
        ...

    async def aclose(self) -> None: ...
