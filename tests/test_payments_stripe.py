"""The Stripe adapter against Stripe's own mock server (stripe-mock) and webhooks signed with the
official library's signing helper, verified by `Webhook.construct_event`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

import pytest
import stripe

from gateway.errors import ApiError
from gateway.payments import ProviderFlow
from infra.service import free_port
from infra.stripe_mock import TEST_SECRET_KEY, StripeMockService
from livefold.payments import (
    Ignored,
    Outcome,
    PaymentError,
    RefundRequest,
    TipPayment,
    WebhookRejected,
    provider_from_settings,
)
from livefold.payments.events import refund_event_id, tip_event
from livefold.payments.stripe_provider import StripeProvider, stripe_idempotency_key
from livefold.settings import Settings
from livefold.tips import TIP_INTENT_CREATED
from streams.events import new_event

WEBHOOK_SECRET = "whsec_livefold_test_endpoint"
T = TypeVar("T")


@dataclass
class Exchange:
    method: str
    path: str
    form: dict[str, list[str]]
    request_headers: dict[str, str]
    status: int
    response_headers: dict[str, str]


class RecordingClient(stripe.HTTPXClient):
    """The library's own HTTPX client, noting each real exchange with the server."""

    def __init__(self) -> None:
        super().__init__(timeout=10.0)
        self.exchanges: list[Exchange] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        body, status, answer_headers = await super().request_async(method, url, headers, post_data)
        form = parse_qs(post_data.decode() if isinstance(post_data, bytes) else post_data or "")
        self.exchanges.append(
            Exchange(
                method,
                url.split("?")[0].split("//", 1)[1].split("/", 1)[1],
                form,
                dict(headers),
                status,
                dict(answer_headers),
            )
        )
        return body, status, answer_headers


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def a_tip(**changes: Any) -> TipPayment:
    fields: dict[str, Any] = {
        "tip_id": str(uuid.uuid4()),
        "stream_id": f"stream-{uuid.uuid4()}",
        "supporter": "viewer-7",
        "amount_minor": 500,
        "currency": "EUR",
        "idempotency_key": str(uuid.uuid4()),
    }
    return TipPayment(**{**fields, **changes})


def stripe_provider(mock: StripeMockService, **options: Any) -> StripeProvider:
    return StripeProvider(TEST_SECRET_KEY, WEBHOOK_SECRET, api_base=mock.url, **options)


def signed(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, at)
    return payload.encode(), {"Stripe-Signature": header}


def succeeded_event(tip: TipPayment, intent_id: str = "pi_3Livefold") -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": tip.amount_minor,
                "amount_received": tip.amount_minor,
                "currency": tip.currency.lower(),
                "status": "succeeded",
                "metadata": tip.metadata(),
            }
        },
    }


def test_a_tip_becomes_a_payment_intent_carrying_the_tip_under_stripes_idempotency_key(
    stripe_mock: StripeMockService,
) -> None:
    recorder = RecordingClient()
    provider = stripe_provider(stripe_mock, http_client=recorder)
    tip, other_tip = a_tip(), a_tip()

    async def create_three() -> list[Any]:
        try:
            return [await provider.create_payment(t) for t in (tip, tip, other_tip)]
        finally:
            await provider.aclose()

    first, again, other = run(create_three())

    assert first.provider == "stripe" and first.reference.startswith("pi_")
    assert first.client_secret and again.client_secret and other.client_secret
    creations = [e for e in recorder.exchanges if e.path == "v1/payment_intents"]
    assert [e.method for e in creations] == ["post"] * 3
    sent = creations[0].form
    assert sent["amount"] == ["500"] and sent["currency"] == ["eur"]
    assert sent["metadata[tip_id]"] == [tip.tip_id]
    assert sent["metadata[stream_id]"] == [tip.stream_id]
    assert sent["metadata[idempotency_key]"] == [tip.idempotency_key]
    assert sent["metadata[supporter]"] == ["viewer-7"]
    # Stripe answers a repeated key with the first PaymentIntent; stripe-mock keeps no state, so
    # what is checked is that both attempts send the same key and the server received it.
    keys = [e.request_headers["Idempotency-Key"] for e in creations]
    assert keys[0] == keys[1] == stripe_idempotency_key(tip)
    assert keys[2] == stripe_idempotency_key(other_tip) != keys[0]
    assert [e.response_headers["idempotency-key"] for e in creations] == keys


def test_a_payment_intent_is_confirmed_with_a_test_card_and_refunded_through_the_adapter(
    stripe_mock: StripeMockService,
) -> None:
    recorder = RecordingClient()
    provider = stripe_provider(stripe_mock, http_client=recorder)
    client = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": stripe_mock.url})
    tip = a_tip(amount_minor=1200)

    async def pay_and_refund() -> str:
        try:
            created = await provider.create_payment(tip)
            # What the supporter's browser does with Stripe.js, then a manual capture.
            confirmed = client.v1.payment_intents.confirm(
                created.reference, params={"payment_method": "pm_card_visa"}
            )
            captured = client.v1.payment_intents.capture(created.reference)
            assert confirmed.id == captured.id == created.reference
            request = RefundRequest(tip, created.reference, 200, "refund-1", reason="goodwill")
            return await provider.refund_payment(request)
        finally:
            await provider.aclose()

    refund_id = run(pay_and_refund())

    assert refund_id.startswith("re_")
    refund = next(e for e in recorder.exchanges if e.path == "v1/refunds")
    assert refund.status == 200
    assert refund.form["amount"] == ["200"]
    assert refund.form["metadata[tip_id]"] == [tip.tip_id]
    assert refund.form["metadata[reason]"] == ["goodwill"]
    assert refund.form["metadata[refund_request]"] == ["refund-1"]
    assert refund.request_headers["Idempotency-Key"] == "livefold-refund-refund-1"


def a_refund_event(kind: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "created": int(time.time()),
        "type": kind,
        "data": {"object": subject},
    }


def test_a_refund_livefold_asked_for_has_the_event_id_its_request_announced(
    stripe_mock: StripeMockService,
) -> None:
    provider = stripe_provider(stripe_mock)
    tip = a_tip(amount_minor=900)
    request = RefundRequest(tip, "pi_3Livefold", 300, "request-7", reason="goodwill")
    refund = {
        "id": "re_3Livefold",
        "object": "refund",
        "amount": 300,
        "currency": "eur",
        "payment_intent": "pi_3Livefold",
        "metadata": request.metadata(),
        "status": "succeeded",
    }
    kinds = ("refund.created", "refund.updated", "charge.refund.updated")
    outcomes = [run(provider.parse_webhook(*signed(a_refund_event(k, refund)))) for k in kinds]

    assert all(isinstance(outcome, Outcome) for outcome in outcomes)
    events = [tip_event(outcome) for outcome in outcomes if isinstance(outcome, Outcome)]
    assert {event.event_id for event in events} == {refund_event_id("stripe", "request-7")}
    assert (events[0].body["amount_minor"], events[0].body["reason"]) == (300, "goodwill")
    assert events[0].body["idempotency_key"] == tip.idempotency_key
    from_dashboard = {**refund, "id": "re_dashboard", "metadata": tip.metadata()}
    outcome = run(provider.parse_webhook(*signed(a_refund_event("refund.updated", from_dashboard))))
    assert isinstance(outcome, Outcome) and outcome.subject_id == "re_dashboard"
    charge = {"id": "ch_1", "object": "charge", "amount_refunded": 300, "metadata": tip.metadata()}
    totals = run(provider.parse_webhook(*signed(a_refund_event("charge.refunded", charge))))
    assert isinstance(totals, Ignored) and "charge.refunded" in totals.reason


def test_stripe_out_of_reach_is_a_retriable_payment_error() -> None:
    provider = StripeProvider(
        TEST_SECRET_KEY,
        WEBHOOK_SECRET,
        api_base=f"http://127.0.0.1:{free_port()}",
        max_network_retries=0,
    )

    async def attempt() -> None:
        try:
            await provider.create_payment(a_tip())
        finally:
            await provider.aclose()

    with pytest.raises(PaymentError, match="Stripe could not be reached") as refusal:
        run(attempt())
    assert refusal.value.retriable


def test_stripe_without_its_keys_names_the_missing_settings() -> None:
    with pytest.raises(ValueError, match="LIVEFOLD_STRIPE_WEBHOOK_SECRET"):
        provider_from_settings(Settings(payment_provider="stripe", stripe_secret_key="sk_test_x"))


def test_a_signed_webhook_is_verified_and_read_as_a_capture(stripe_mock: StripeMockService) -> None:
    provider = stripe_provider(stripe_mock)
    tip = a_tip(amount_minor=750, currency="USD")
    event = succeeded_event(tip)

    outcome = run(provider.parse_webhook(*signed(event)))

    assert isinstance(outcome, Outcome)
    assert outcome.kind == "captured" and outcome.provider == "stripe"
    assert (outcome.tip_id, outcome.stream_id, outcome.idempotency_key) == (
        tip.tip_id,
        tip.stream_id,
        tip.idempotency_key,
    )
    assert (outcome.amount_minor, outcome.currency) == (750, "USD")
    assert outcome.provider_reference == "pi_3Livefold"
    assert outcome.provider_event_id == event["id"] and outcome.supporter == "viewer-7"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda body, headers: (body.replace(b"750", b"75000"), headers), id="tampered"
        ),
        pytest.param(lambda body, headers: (body, {}), id="unsigned"),
        pytest.param(
            lambda body, headers: signed(json.loads(body), secret="whsec_someone_else"),
            id="another-secret",
        ),
        pytest.param(
            lambda body, headers: signed(json.loads(body), at=int(time.time()) - 3600),
            id="an-hour-old",
        ),
    ],
)
def test_a_webhook_that_does_not_verify_is_rejected(
    stripe_mock: StripeMockService, forge: Any
) -> None:
    provider = stripe_provider(stripe_mock)
    body, headers = forge(*signed(succeeded_event(a_tip(amount_minor=750))))

    with pytest.raises(WebhookRejected, match="Stripe-Signature header does not verify"):
        run(provider.parse_webhook(body, headers))


def test_a_refund_made_outside_livefold_is_looked_up_and_ignored_when_not_a_tip(
    stripe_mock: StripeMockService,
) -> None:
    recorder = RecordingClient()
    provider = stripe_provider(stripe_mock, http_client=recorder)
    event = {
        "id": "evt_refund_dashboard",
        "object": "event",
        "created": int(time.time()),
        "type": "refund.updated",
        "data": {
            "object": {
                "id": "re_dashboard",
                "object": "refund",
                "amount": 100,
                "currency": "eur",
                "payment_intent": "pi_from_the_dashboard",
                "metadata": {},
                "status": "succeeded",
            }
        },
    }

    async def parse() -> Outcome | Ignored:
        try:
            return await provider.parse_webhook(*signed(event))
        finally:
            await provider.aclose()

    outcome = run(parse())

    assert isinstance(outcome, Ignored) and "not a livefold tip" in outcome.reason
    looked_up = [e.path for e in recorder.exchanges]
    assert looked_up == ["v1/payment_intents/pi_from_the_dashboard"]


def test_a_payment_that_cannot_start_asks_the_client_to_retry_with_the_same_key() -> None:
    tip = a_tip()
    intent = new_event(
        TIP_INTENT_CREATED,
        stream_id=tip.stream_id,
        actor_id=tip.supporter,
        tip_id=tip.tip_id,
        amount_minor=tip.amount_minor,
        currency=tip.currency,
        message=None,
        idempotency_key=tip.idempotency_key,
    )
    unreachable = f"http://127.0.0.1:{free_port()}"
    flow = ProviderFlow(
        StripeProvider(TEST_SECRET_KEY, WEBHOOK_SECRET, unreachable, max_network_retries=0)
    )

    async def begin() -> None:
        try:
            await flow.begin(intent)
        finally:
            await flow.aclose()

    with pytest.raises(ApiError) as refusal:
        run(begin())
    assert refusal.value.status == 503 and refusal.value.error == "payment_unavailable"
    assert f"tip {tip.tip_id} is recorded" in refusal.value.reason
    assert "same Idempotency-Key" in refusal.value.reason
