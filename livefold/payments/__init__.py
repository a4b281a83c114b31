"""Payments for tips: a `PaymentProvider` (Stripe, or the local sandbox) takes the money a tip
intent asks for, and its signed webhooks become TipCaptured / TipFailed / TipRefunded events
(gateway/payments.py serves them)."""

from __future__ import annotations

from livefold.payments.provider import (
    Ignored,
    Outcome,
    PaymentCreated,
    PaymentError,
    PaymentProvider,
    RefundRequest,
    TipPayment,
    WebhookRejected,
)
from livefold.settings import Settings

__all__ = [
    "Ignored",
    "Outcome",
    "PaymentCreated",
    "PaymentError",
    "PaymentProvider",
    "RefundRequest",
    "TipPayment",
    "WebhookRejected",
    "provider_from_settings",
]


def provider_from_settings(settings: Settings) -> PaymentProvider:
    """The provider `payment_provider` names; ValueError names a missing setting."""
    if settings.payment_provider == "stripe":
        from livefold.payments.stripe_provider import StripeProvider

        return StripeProvider.from_settings(settings)
    from livefold.payments.sandbox import SandboxProvider

    return SandboxProvider.from_settings(settings)
