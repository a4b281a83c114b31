"""Payments at the gateway: starting a tip's payment once its intent is in the log (the
`PaymentFlow` gateway/tips.py calls), the providers' webhooks, and the sandbox's test-card
payments.

`POST /api/v1/payments/webhook/{provider}`: the signature is verified before anything else; a
bad one gets 400 with the reason and appends nothing. A verified outcome is appended as a tips
event and answered 200 only once Kafka acknowledged it, so an outcome the log did not take is
sent again by the provider. Deliveries of the same outcome append the same event id (see
livefold/payments/events.py): the tips fold captures a tip once however often it is told.

`POST /api/v1/payments/sandbox/pay` (sandbox provider only): `{"client_secret", "card_number"}`
pays with a test card, like Stripe.js confirming a PaymentIntent; the sandbox then delivers
the signed webhook to the gateway and answers once the gateway answered it.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import ApiError, invalid, not_found
from gateway.runtime import gateway_of
from gateway.writes import read_body, read_json
from livefold.payments import (
    Ignored,
    PaymentError,
    PaymentProvider,
    TipPayment,
    WebhookRejected,
    provider_from_settings,
)
from livefold.payments.events import tip_event
from livefold.payments.provider import SANDBOX_PAY_PATH, WEBHOOK_PATH
from livefold.payments.sandbox import SandboxProvider, SandboxRefusal
from livefold.settings import Settings
from streams import json_input
from streams.events import Event
from streams.validation import EventValidationError, FieldError

log = logging.getLogger("livefold.gateway.payments")


class ProviderFlow:
    """The gateway's payment flow (gateway.tips.PaymentFlow) over one provider."""

    def __init__(self, provider: PaymentProvider):
        self.provider = provider

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderFlow:
        return cls(provider_from_settings(settings))

    async def begin(self, intent: Event) -> dict[str, Any]:
        tip = TipPayment.of_intent(intent)
        try:
            created = await self.provider.create_payment(tip)
        except PaymentError as error:
            raise ApiError(
                503 if error.retriable else 502,
                "payment_unavailable" if error.retriable else "payment_refused",
                f"tip {tip.tip_id} is recorded but its payment could not start: {error.reason}; "
                "retry with the same Idempotency-Key",
            ) from None
        return {
            "provider": created.provider,
            "reference": created.reference,
            "client_secret": created.client_secret,
            "status": created.status,
            "next_action": created.next_action,
        }

    async def aclose(self) -> None:
        await self.provider.aclose()


def flow_of(request: Request) -> ProviderFlow:
    flow = gateway_of(request).payments
    if not isinstance(flow, ProviderFlow):
        raise ApiError(503, "unavailable", "payments are not set up on this gateway")
    return flow


async def webhook(request: Request) -> Response:
    provider = flow_of(request).provider
    name = request.path_params["provider"]
    if name != provider.name:
        raise not_found(f"payment provider {name!r} (this gateway takes {provider.name!r})")
    payload = await read_body(request, gateway_of(request).settings.gateway_max_body_bytes)
    try:
        json_input.decode(payload, strings=False)
    except json_input.Refused as refused:
        # What is not JSON at all the provider refuses, after the signature; what nests too
        # deep would exhaust its decoder's recursion.
        if refused.reason == json_input.TOO_DEEP:
            reason = f"the body is {refused.reason}"
            raise ApiError(400, "bad_webhook", reason, refused.errors) from None
    try:
        outcome = await provider.parse_webhook(payload, request.headers)
    except WebhookRejected as error:
        log.warning("refused a %s webhook: %s", name, error)
        raise ApiError(400, "bad_webhook", str(error)) from None
    except PaymentError as error:
        raise ApiError(503, "unavailable", error.reason) from None
    if isinstance(outcome, Ignored):
        body = {"received": True, "ignored": outcome.reason}
        return JSONResponse(body | {"provider_event_id": outcome.provider_event_id})
    event = tip_event(outcome)
    try:
        await gateway_of(request).append(event)
    except EventValidationError as error:
        raise invalid(error.errors, f"the webhook's {event.type} is not valid") from None
    return JSONResponse(
        {
            "received": True,
            "provider_event_id": outcome.provider_event_id,
            "event_id": event.event_id,
            "event_type": event.type,
        }
    )


async def sandbox_pay(request: Request) -> Response:
    provider = flow_of(request).provider
    if not isinstance(provider, SandboxProvider):
        raise not_found("the sandbox (payment_provider is not 'sandbox')")
    limit = gateway_of(request).settings.gateway_max_body_bytes
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise invalid([FieldError("body", "must be a JSON object")])
    missing = [
        FieldError(name, "must be a non-empty string")
        for name in ("client_secret", "card_number")
        if not isinstance(body.get(name), str) or not body[name]
    ]
    if missing:
        raise invalid(missing)
    try:
        attempt = await provider.pay(body["client_secret"], body["card_number"])
    except SandboxRefusal as refusal:
        raise invalid([FieldError(refusal.field, refusal.reason)]) from None
    if not 200 <= attempt.webhook_status < 300:
        raise ApiError(
            502,
            "webhook_failed",
            f"the gateway answered {attempt.webhook_status or 'nothing'} to the payment's "
            f"webhook ({attempt.webhook_answer[:300]}); pay again",
        )
    return JSONResponse(
        {
            "reference": attempt.reference,
            "status": attempt.status,
            "decline_code": attempt.decline_code,
            "provider_event_id": attempt.provider_event_id,
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route(WEBHOOK_PATH, webhook, methods=["POST"]),
        Route(SANDBOX_PAY_PATH, sandbox_pay, methods=["POST"]),
    ]
