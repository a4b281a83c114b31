"""Stripe's webhook protocol, which both providers speak: a JSON event signed in the
`Stripe-Signature` header (`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), verified by the
official library's `Webhook.construct_event`, then read into a provider-neutral `Outcome`.

Followed event types: `payment_intent.succeeded` (captured), `payment_intent.payment_failed` and
`payment_intent.canceled` (failed), and a succeeded Refund in `refund.created`, `refund.updated`
or `charge.refund.updated` (refunded). `charge.refunded` is acknowledged and ignored: its Charge
holds the running total refunded, not which refund it was, and the refund's own events follow.
Tip details come from the object's metadata, which livefold sets on every PaymentIntent and
Refund it creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe

from livefold.payments.provider import (
    REFUND_REQUEST,
    FailureReason,
    Ignored,
    Outcome,
    WebhookRejected,
    refund_subject,
)

SIGNATURE_HEADER = "Stripe-Signature"
TIP_METADATA = ("tip_id", "stream_id", "idempotency_key")
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "charge.refund.updated"})
FOLLOWED = frozenset(
    {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}
    | REFUND_EVENTS
)

# Stripe's decline codes that mean the card is not the payer's to use.
_FRAUD_CODES = frozenset(
    {"fraudulent", "stolen_card", "lost_card", "pickup_card", "merchant_blacklist"}
)
_PROVIDER_CODES = frozenset({"processing_error", "issuer_not_available", "try_again_later"})


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for a body, with the library's own signing helper."""
    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp))


def verify(
    payload: bytes, headers: Mapping[str, str], secret: str, tolerance: int
) -> dict[str, Any]:
    """The event, once its signature verified with `secret` and is at most `tolerance` s old."""
    signature = header(headers, SIGNATURE_HEADER)
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(f"the {SIGNATURE_HEADER} header does not verify: {error}") from None
    except (ValueError, TypeError, AttributeError) as error:
        # The signature matched, but the body is not a JSON object (an event).
        raise WebhookRejected(f"the body is not a webhook event: {error}") from None
    body: dict[str, Any] = event.to_dict()
    return body


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def refund_payment_id(event: Mapping[str, Any]) -> str | None:
    """The PaymentIntent a refund event names when the refund itself carries no tip metadata
    (a refund made in the provider's dashboard): its metadata is the payment's."""
    if event.get("type") not in REFUND_EVENTS:
        return None
    refund = _object_of(event)
    if _tip_metadata(refund.get("metadata")) is not None:
        return None
    payment = refund.get("payment_intent")
    return payment if isinstance(payment, str) and payment else None


def outcome_of(
    event: Mapping[str, Any], provider: str, payment_metadata: Mapping[str, Any] | None = None
) -> Outcome | Ignored:
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise WebhookRejected("the event has no id")
    kind = event.get("type")
    if kind not in FOLLOWED:
        return Ignored(event_id, f"livefold does not follow {kind!r} events")
    subject = _object_of(event)
    metadata = _tip_metadata(subject.get("metadata")) or _tip_metadata(payment_metadata)
    if metadata is None:
        wanted = "/".join(TIP_METADATA)
        return Ignored(event_id, f"not a livefold tip: its metadata has no {wanted}")
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise WebhookRejected("the event has no creation time ('created', Unix seconds)")
    common: dict[str, Any] = {
        "provider": provider,
        "provider_event_id": event_id,
        "tip_id": metadata["tip_id"],
        "stream_id": metadata["stream_id"],
        "supporter": metadata.get("supporter") or "system",
        "idempotency_key": metadata["idempotency_key"],
        "occurred_at": datetime.fromtimestamp(created, UTC),
    }
    subject_id = _text(subject, "id")
    if kind == "payment_intent.succeeded":
        return Outcome(
            kind="captured",
            subject_id=subject_id,
            amount_minor=_amount(subject, "amount_received"),
            currency=_text(subject, "currency").upper(),
            provider_reference=subject_id,
            **common,
        )
    if kind in REFUND_EVENTS:
        status = subject.get("status")
        if status != "succeeded":
            return Ignored(event_id, f"refund {subject_id} is {status}, not succeeded")
        payment = subject.get("payment_intent")
        return Outcome(
            kind="refunded",
            subject_id=_refund_subject(subject, subject_id),
            amount_minor=_amount(subject, "amount"),
            currency=_text(subject, "currency").upper(),
            provider_reference=payment if isinstance(payment, str) else None,
            reason=_refund_reason(subject),
            **common,
        )
    failure, reason = _failure_of(subject, canceled=kind == "payment_intent.canceled")
    # A payment may fail, be tried again and fail again: each failure webhook is its own event.
    return Outcome(kind="failed", subject_id=event_id, failure=failure, reason=reason, **common)


def _object_of(event: Mapping[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    subject = data.get("object") if isinstance(data, dict) else None
    if not isinstance(subject, dict):
        raise WebhookRejected("the event has no data.object")
    return subject


def _tip_metadata(metadata: Any) -> dict[str, str] | None:
    if not isinstance(metadata, Mapping):
        return None
    if not all(isinstance(metadata.get(name), str) and metadata[name] for name in TIP_METADATA):
        return None
    return {str(name): str(value) for name, value in metadata.items()}


def _text(subject: Mapping[str, Any], name: str) -> str:
    value = subject.get(name)
    if not isinstance(value, str) or not value:
        raise WebhookRejected(f"data.object.{name} must be a non-empty string")
    return value


def _amount(subject: Mapping[str, Any], name: str) -> int:
    value = subject.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise WebhookRejected(f"data.object.{name} must be a positive integer, got {value!r}")
    return value


def _refund_subject(refund: Mapping[str, Any], refund_id: str) -> str:
    """The request a refund livefold asked for came from (so its event id is the one the
    gateway announced), else the refund itself (one made in the provider's dashboard)."""
    metadata = refund.get("metadata")
    request = metadata.get(REFUND_REQUEST) if isinstance(metadata, Mapping) else None
    return refund_subject(request) if isinstance(request, str) and request else refund_id


def _refund_reason(refund: Mapping[str, Any]) -> str | None:
    metadata = refund.get("metadata")
    told = metadata.get("reason") if isinstance(metadata, Mapping) else None
    reason = told or refund.get("reason")
    return str(reason) if reason else None


def _failure_of(payment: Mapping[str, Any], canceled: bool) -> tuple[FailureReason, str | None]:
    if canceled:
        why = payment.get("cancellation_reason")
        return ("expired" if why in ("abandoned", "automatic") else "other"), f"canceled: {why}"
    error = payment.get("last_payment_error")
    if not isinstance(error, Mapping):
        return "other", None
    code = error.get("decline_code") or error.get("code")
    message = error.get("message")
    reason = str(message) if message else (str(code) if code else None)
    if code == "insufficient_funds":
        return "insufficient_funds", reason
    if code in _FRAUD_CODES:
        return "fraud_suspected", reason
    if code in _PROVIDER_CODES or error.get("type") == "api_error":
        return "provider_error", reason
    if error.get("type") == "card_error":
        return "declined", reason
    return "other", reason
