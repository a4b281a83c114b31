"""A payment provider with no card network, for `make run` and tests: paying a tip with one of
Stripe's documented test card numbers makes the sandbox send the gateway the webhook Stripe
would send, in Stripe's event shape and signed with Stripe's scheme, so it goes through the very
verification and reading the Stripe provider uses.

The sandbox keeps no state, so any gateway process can take the payment: the client secret
carries the tip, sealed with an HMAC of the sandbox secret, and the payment's reference derives
from (stream, idempotency key), so the same tip asked twice gets the same payment.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from livefold.payments.provider import (
    SANDBOX_PAY_PATH,
    WEBHOOK_PATH,
    Ignored,
    Outcome,
    PaymentCreated,
    PaymentError,
    RefundRequest,
    TipPayment,
)
from livefold.payments.stripe_events import SIGNATURE_HEADER, outcome_of, sign, verify
from livefold.settings import Settings

DELIVERY_ATTEMPTS = 3


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


# Stripe's test card numbers and what each does; None: the payment succeeds.
TEST_CARDS: dict[str, Decline | None] = {
    "4242424242424242": None,
    "4000000000000002": Decline("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": Decline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "4100000000000019": Decline("card_declined", "fraudulent", "Your card was declined."),
    "4000000000000069": Decline("expired_card", "expired_card", "Your card has expired."),
    "4000000000000119": Decline(
        "processing_error", "processing_error", "An error occurred while processing your card."
    ),
}


class SandboxRefusal(ValueError):
    """The pay request itself is wrong (unknown client secret, not a test card)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PaymentAttempt:
    reference: str
    status: str  # "succeeded" or, declined, "requires_payment_method" as with Stripe
    provider_event_id: str
    decline_code: str | None
    webhook_status: int  # the gateway's answer to the webhook; 0: it could not be reached
    webhook_answer: str


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self,
        secret: str,
        gateway_url: str,
        webhook_url: str | None = None,
        tolerance_seconds: int = 300,
        verify_tls: bool = True,
    ):
        if not secret:
            raise ValueError("the sandbox needs a secret (LIVEFOLD_PAYMENT_SANDBOX_SECRET)")
        self._secret = secret
        self._tolerance = tolerance_seconds
        self.pay_url = gateway_url.rstrip("/") + SANDBOX_PAY_PATH
        self.webhook_url = webhook_url or gateway_url.rstrip("/") + WEBHOOK_PATH.format(
            provider=self.name
        )
        self._http = httpx.AsyncClient(timeout=10.0, verify=verify_tls)

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxProvider:
        return cls(
            settings.secret("payment_sandbox_secret"),
            settings.gateway_url,
            webhook_url=settings.payment_sandbox_webhook_url,
            tolerance_seconds=settings.payment_webhook_tolerance_seconds,
            # It delivers to its own gateway, whose generated certificate no one vouches for.
            verify_tls=not settings.gateway_tls_self_signed,
        )

    async def create_payment(self, tip: TipPayment) -> PaymentCreated:
        reference = reference_of(tip)
        return PaymentCreated(
            provider=self.name,
            reference=reference,
            client_secret=f"{reference}_secret_{self._seal(tip)}",
            status="requires_payment_method",
            next_action={
                "type": "sandbox_pay",
                "pay_url": self.pay_url,
                "test_cards": {
                    number: "succeeds" if decline is None else decline.decline_code
                    for number, decline in TEST_CARDS.items()
                },
            },
        )

    async def pay(self, client_secret: str, card_number: str) -> PaymentAttempt:
        """Charge a test card: the gateway gets the outcome's webhook before this returns."""
        tip = self._open(client_secret)
        number = card_number.replace(" ", "").replace("-", "")
        if number not in TEST_CARDS:
            raise SandboxRefusal(
                "card_number", "use one of the sandbox test cards: " + ", ".join(TEST_CARDS)
            )
        decline = TEST_CARDS[number]
        reference = reference_of(tip)
        event = webhook_event(
            "payment_intent.succeeded" if decline is None else "payment_intent.payment_failed",
            payment_intent(tip, reference, decline),
        )
        status, answer = await self.deliver(event)
        return PaymentAttempt(
            reference=reference,
            status="succeeded" if decline is None else "requires_payment_method",
            provider_event_id=event["id"],
            decline_code=None if decline is None else decline.decline_code,
            webhook_status=status,
            webhook_answer=answer,
        )

    async def refund_payment(self, refund: RefundRequest) -> str:
        tip = refund.tip
        digest = hashlib.sha256(f"{refund.reference}\n{refund.request_key}".encode()).hexdigest()
        refund_id = f"re_sandbox_{digest[:24]}"
        refund_object = {
            "id": refund_id,
            "object": "refund",
            "amount": refund.amount_minor,
            "currency": tip.currency.lower(),
            "payment_intent": refund.reference,
            "metadata": refund.metadata(),
            "reason": "requested_by_customer",
            "status": "succeeded",
            "created": int(time.time()),
        }
        status, answer = await self.deliver(webhook_event("refund.updated", refund_object))
        if not 200 <= status < 300:
            raise PaymentError(
                f"the gateway answered {status or 'nothing'} to the refund webhook: {answer}",
                retriable=True,
            )
        return refund_id

    def signed_webhook(self, event: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and headers Stripe would send for this event, signed with the secret."""
        payload = json.dumps(event, separators=(",", ":"))
        headers = {
            SIGNATURE_HEADER: sign(payload, self._secret),
            "Content-Type": "application/json; charset=utf-8",
        }
        return payload.encode(), headers

    async def deliver(self, event: Mapping[str, Any]) -> tuple[int, str]:
        """POST the signed event to the gateway, again while it fails (as Stripe retries)."""
        body, headers = self.signed_webhook(event)
        status, answer = 0, ""
        for attempt in range(DELIVERY_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.2 * attempt)
            try:
                response = await self._http.post(self.webhook_url, content=body, headers=headers)
            except httpx.HTTPError as error:
                status, answer = 0, f"{self.webhook_url} could not be reached: {error!r}"
                continue
            status, answer = response.status_code, response.text
            if status < 500:
                break
        return status, answer

    async def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Outcome | Ignored:
        return outcome_of(verify(payload, headers, self._secret, self._tolerance), self.name)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _seal(self, tip: TipPayment) -> str:
        fields = [
            tip.tip_id,
            tip.stream_id,
            tip.supporter,
            tip.amount_minor,
            tip.currency,
            tip.idempotency_key,
        ]
        data = _b64(json.dumps(fields, separators=(",", ":")).encode())
        return f"{data}.{self._mac(data)}"

    def _open(self, client_secret: str) -> TipPayment:
        reference, _, sealed = client_secret.partition("_secret_")
        data, _, mac = sealed.partition(".")
        if not data or not hmac.compare_digest(mac, self._mac(data)):
            raise SandboxRefusal("client_secret", "not a client secret this sandbox gave out")
        tip_id, stream_id, supporter, amount, currency, key = json.loads(_unb64(data))
        tip = TipPayment(tip_id, stream_id, supporter, int(amount), currency, key)
        if reference_of(tip) != reference:
            raise SandboxRefusal("client_secret", "the payment reference does not match the tip")
        return tip

    def _mac(self, data: str) -> str:
        mac = hmac.new(self._secret.encode(), b"client-secret\n" + data.encode(), "sha256")
        return _b64(mac.digest()[:18])


def reference_of(tip: TipPayment) -> str:
    digest = hashlib.sha256(f"{tip.stream_id}\n{tip.idempotency_key}".encode()).hexdigest()
    return f"pi_sandbox_{digest[:24]}"


def payment_intent(tip: TipPayment, reference: str, decline: Decline | None) -> dict[str, Any]:
    return {
        "id": reference,
        "object": "payment_intent",
        "amount": tip.amount_minor,
        "amount_received": 0 if decline else tip.amount_minor,
        "currency": tip.currency.lower(),
        "status": "succeeded" if decline is None else "requires_payment_method",
        "metadata": tip.metadata(),
        "livemode": False,
        "last_payment_error": None
        if decline is None
        else {
            "type": "card_error",
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
        },
    }


def webhook_event(kind: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_sandbox_{secrets.token_hex(12)}",
        "object": "event",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": subject},
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
