"""Tips paid through Stripe with the official library: one PaymentIntent per tip intent, carrying
the tip in its metadata, created under a Stripe idempotency key derived from the tip's own, so a
retried creation returns the first PaymentIntent instead of charging again. The supporter's
client confirms it with the client secret (Stripe.js); the outcome comes back as a webhook signed
with the endpoint's secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import stripe

from livefold.payments.provider import (
    Ignored,
    Outcome,
    PaymentCreated,
    PaymentError,
    RefundRequest,
    TipPayment,
)
from livefold.payments.stripe_events import outcome_of, refund_payment_id, verify
from livefold.settings import Settings

# Stripe keeps an idempotency key for 24 hours and allows 255 characters.
_KEY_PREFIX = "livefold-tip-"


def stripe_idempotency_key(tip: TipPayment) -> str:
    """One key per (stream, tip idempotency key): the unit the tips fold captures once."""
    digest = hashlib.sha256(f"{tip.stream_id}\n{tip.idempotency_key}".encode()).hexdigest()
    return f"{_KEY_PREFIX}{digest[:48]}"


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        tolerance_seconds: int = 300,
        max_network_retries: int = 2,
        http_client: stripe.HTTPXClient | None = None,
    ):
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance_seconds
        self._http = http_client or stripe.HTTPXClient(timeout=20.0)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeProvider:
        missing = [
            f"LIVEFOLD_{name.upper()}"
            for name in ("stripe_secret_key", "stripe_webhook_secret")
            if not getattr(settings, name)
        ]
        if missing:
            raise ValueError(
                f"payment_provider is 'stripe' but {' and '.join(missing)} is not set "
                "(the API secret key and the webhook endpoint's signing secret)"
            )
        assert settings.stripe_secret_key and settings.stripe_webhook_secret
        return cls(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            tolerance_seconds=settings.payment_webhook_tolerance_seconds,
        )

    async def create_payment(self, tip: TipPayment) -> PaymentCreated:
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": tip.amount_minor,
                    "currency": tip.currency.lower(),
                    "metadata": tip.metadata(),
                    "description": f"Tip {tip.tip_id} on livefold stream {tip.stream_id}",
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": stripe_idempotency_key(tip)},
            )
        except stripe.StripeError as error:
            raise payment_error(error) from None
        next_action = intent.next_action
        return PaymentCreated(
            provider=self.name,
            reference=intent.id,
            client_secret=intent.client_secret or "",
            status=intent.status,
            next_action=None if next_action is None else next_action.to_dict(),
        )

    async def refund_payment(self, refund: RefundRequest) -> str:
        try:
            created = await self._client.v1.refunds.create_async(
                params={
                    "payment_intent": refund.reference,
                    "amount": refund.amount_minor,
                    "metadata": refund.metadata(),
                },
                options={"idempotency_key": f"livefold-refund-{refund.request_key}"},
            )
        except stripe.StripeError as error:
            raise payment_error(error) from None
        return created.id

    async def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Outcome | Ignored:
        event = verify(payload, headers, self._webhook_secret, self._tolerance)
        payment_id = refund_payment_id(event)
        payment_metadata: dict[str, Any] | None = None
        if payment_id is not None:
            try:
                payment = await self._client.v1.payment_intents.retrieve_async(payment_id)
            except stripe.StripeError as error:
                raise payment_error(error) from None
            payment_metadata = payment.to_dict().get("metadata")
        return outcome_of(event, self.name, payment_metadata)

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]


def payment_error(error: stripe.StripeError) -> PaymentError:
    """Stripe's refusal in livefold's terms: retriable when Stripe or the network failed."""
    message = error.user_message or str(error)
    if isinstance(error, stripe.APIConnectionError):
        return PaymentError(f"Stripe could not be reached: {message}", retriable=True)
    if isinstance(error, stripe.RateLimitError | stripe.APIError):
        return PaymentError(f"Stripe is unavailable: {message}", retriable=True)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return PaymentError(f"Stripe refused LIVEFOLD_STRIPE_SECRET_KEY: {message}")
    if isinstance(error, stripe.IdempotencyError):
        return PaymentError(f"this tip's idempotency key was used for another payment: {message}")
    return PaymentError(f"Stripe refused the payment: {message}")
