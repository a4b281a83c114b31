"""Payment webhooks through a real gateway (uvicorn, Kafka, the schema registry): a verified
webhook appends its tips event, a tip is captured once however often it is told, and a webhook
that does not verify appends nothing. What the log holds is checked by folding it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import stripe

from gateway.app import create_app
from infra.service import free_port
from infra.stripe_mock import TEST_SECRET_KEY, StripeMockService
from livefold import tips
from livefold.folding import Rejected, fold_all
from livefold.payments import PaymentCreated, RefundRequest, TipPayment
from livefold.payments.sandbox import SandboxProvider, payment_intent, webhook_event
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.events import Event, new_event
from streams.producer import EventProducer
from tests.fold_workers import StateReader, dead_letters, group_settings, workers
from tests.gateways import eventually
from tests.serving import serving

PAY = "/api/v1/payments/sandbox/pay"
SANDBOX_WEBHOOK = "/api/v1/payments/webhook/sandbox"
STRIPE_WEBHOOK = "/api/v1/payments/webhook/stripe"
STRIPE_ENDPOINT_SECRET = "whsec_livefold_gateway_test"
VISA = "4242424242424242"


@pytest.fixture(scope="module")
def codec(stack: Settings) -> Codec:
    return Codec.from_settings(stack)


@pytest.fixture(scope="module")
def producer(stack: Settings, codec: Codec) -> Iterator[EventProducer]:
    appender = EventProducer(stack, codec)
    yield appender
    appender.close()


@pytest.fixture(scope="module")
def sandbox_gateway(stack: Settings) -> Iterator[Settings]:
    """A gateway taking payments through the sandbox; yields its settings."""
    settings = stack.model_copy(update={"gateway_port": free_port(), "payment_provider": "sandbox"})
    with serving(create_app(settings), settings.host, settings.gateway_port):
        yield settings


@pytest.fixture(scope="module")
def stripe_gateway(stack: Settings, stripe_mock: StripeMockService) -> Iterator[Settings]:
    settings = stack.model_copy(
        update={
            "gateway_port": free_port(),
            "payment_provider": "stripe",
            "stripe_secret_key": TEST_SECRET_KEY,
            "stripe_webhook_secret": STRIPE_ENDPOINT_SECRET,
            "stripe_api_base": stripe_mock.url,
        }
    )
    with serving(create_app(settings), settings.host, settings.gateway_port):
        yield settings


def start_tip(producer: EventProducer, amount: int = 500, currency: str = "EUR") -> Event:
    """What the gateway appends for POST /streams/{id}/tips."""
    intent = new_event(
        tips.TIP_INTENT_CREATED,
        stream_id=f"stream-{uuid.uuid4()}",
        actor_id="viewer-42",
        tip_id=str(uuid.uuid4()),
        amount_minor=amount,
        currency=currency,
        message="great stream",
        idempotency_key=str(uuid.uuid4()),
    )
    producer.append(intent).result(30)
    return intent


def sandbox_of(settings: Settings) -> SandboxProvider:
    return SandboxProvider.from_settings(settings)


def begin_payment(settings: Settings, intent: Event) -> PaymentCreated:
    async def create() -> PaymentCreated:
        provider = sandbox_of(settings)
        try:
            return await provider.create_payment(TipPayment.of_intent(intent))
        finally:
            await provider.aclose()

    return asyncio.run(create())


def pay(settings: Settings, client_secret: str, card: str = VISA) -> httpx.Response:
    body = {"client_secret": client_secret, "card_number": card}
    return httpx.post(settings.gateway_url + PAY, json=body, timeout=30)


def events_of(
    settings: Settings, codec: Codec, producer: EventProducer, stream_id: str
) -> list[Event]:
    records = read_to_end(settings, codec, [event_topic("tips")], producer)
    return [record.event for record in records if record.event.stream_id == stream_id]


def tips_view(events: list[Event]) -> tuple[dict[str, Any], list[Rejected]]:
    states, outputs = fold_all(tips, events)
    (state,) = states.values()
    return tips.view(state), [output for output in outputs if isinstance(output, Rejected)]


def test_a_test_card_payment_captures_the_tip_once_however_often_its_webhook_comes(
    sandbox_gateway: Settings, codec: Codec, producer: EventProducer
) -> None:
    intent = start_tip(producer, amount=500)
    payment = begin_payment(sandbox_gateway, intent)
    assert payment.next_action is not None
    assert payment.next_action["pay_url"] == sandbox_gateway.gateway_url + PAY

    paid = pay(sandbox_gateway, payment.client_secret)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "succeeded"
    assert pay(sandbox_gateway, payment.client_secret).status_code == 200  # paid twice
    # One webhook delivered twice, byte for byte, as a provider retrying does.
    tip = TipPayment.of_intent(intent)
    body, headers = sandbox_of(sandbox_gateway).signed_webhook(
        webhook_event("payment_intent.succeeded", payment_intent(tip, payment.reference, None))
    )
    answers = [
        httpx.post(sandbox_gateway.gateway_url + SANDBOX_WEBHOOK, content=body, headers=headers)
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [200, 200]

    events = events_of(sandbox_gateway, codec, producer, intent.stream_id)
    captures = [event for event in events if event.type == tips.TIP_CAPTURED]
    assert len(captures) == 4
    assert {capture.event_id for capture in captures} == {answers[0].json()["event_id"]}
    view, rejected = tips_view(events)
    assert view["totals"] == {"EUR": {"captured": 500, "refunded": 0, "tips": 1, "net": 500}}
    assert view["top_supporters"] == {"EUR": [{"supporter": "viewer-42", "amount_minor": 500}]}
    assert view["pending"] == 0 and rejected == []


def test_a_second_payment_for_the_same_idempotency_key_is_refused_by_the_ledger(
    sandbox_gateway: Settings, codec: Codec, producer: EventProducer
) -> None:
    intent = start_tip(producer, amount=300)
    tip = TipPayment.of_intent(intent)
    assert pay(sandbox_gateway, begin_payment(sandbox_gateway, intent).client_secret).is_success
    # Another provider payment (another PaymentIntent) for the very same tip.
    body, headers = sandbox_of(sandbox_gateway).signed_webhook(
        webhook_event("payment_intent.succeeded", payment_intent(tip, "pi_sandbox_other", None))
    )
    answer = httpx.post(
        sandbox_gateway.gateway_url + SANDBOX_WEBHOOK, content=body, headers=headers
    )
    assert answer.status_code == 200

    view, rejected = tips_view(events_of(sandbox_gateway, codec, producer, intent.stream_id))
    assert view["totals"]["EUR"]["captured"] == 300 and view["totals"]["EUR"]["tips"] == 1
    assert [r.event.event_id for r in rejected] == [answer.json()["event_id"]]
    assert "already captured" in rejected[0].reason


def test_a_signed_capture_unlike_its_intent_is_refused_and_dead_lettered(
    sandbox_gateway: Settings, producer: EventProducer, stack: Settings
) -> None:
    folding = group_settings(stack, "payments")
    with workers(folding, 1), StateReader(folding, ["tips"]) as states:
        intent = start_tip(producer, amount=100)
        stream = intent.stream_id
        states.wait_for(lambda: states.latest("tips", stream), description="the tip's intent")
        tip = TipPayment.of_intent(intent)
        stranger = replace(tip, tip_id=str(uuid.uuid4()), idempotency_key=str(uuid.uuid4()))
        wrong = [
            (replace(tip, amount_minor=100_000_000), "amount 100000000 where the intent has 100"),
            (replace(tip, currency="USD"), "currency 'USD' where the intent has 'EUR'"),
            (stranger, f"no tip {stranger.tip_id} was started"),
        ]
        answers = []
        for n, (payment, _) in enumerate(wrong):
            succeeded = payment_intent(payment, f"pi_forged_{n}", None)
            body, headers = sandbox_of(sandbox_gateway).signed_webhook(
                webhook_event("payment_intent.succeeded", succeeded)
            )
            url = sandbox_gateway.gateway_url + SANDBOX_WEBHOOK
            answers.append(httpx.post(url, content=body, headers=headers))
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        rejected = states.wait_for(
            lambda: len(found := states.of("tips", stream, "rejected")) == 3 and found,
            description="three refused captures",
        )
        letters = eventually(lambda: len(found := dead_letters(folding, stream)) == 3 and found)
        ledger = states.latest("tips", stream)
    assert [m.value["event_id"] for m in rejected] == [a.json()["event_id"] for a in answers]
    for (_, why), message, letter in zip(wrong, rejected, letters, strict=True):
        assert why in message.value["reason"] and why in letter["livefold.reason"]
        assert letter["livefold.source.topic"] == event_topic("tips")
    assert ledger is not None and ledger["totals"] == {} and ledger["pending"] == 1


def test_declined_cards_fail_the_tip_with_their_reason_and_a_later_card_captures_it(
    sandbox_gateway: Settings, codec: Codec, producer: EventProducer
) -> None:
    intent = start_tip(producer, amount=900)
    secret = begin_payment(sandbox_gateway, intent).client_secret

    poor = pay(sandbox_gateway, secret, "4000 0000 0000 9995")
    declined = pay(sandbox_gateway, secret, "4000000000000002")
    assert poor.json()["decline_code"] == "insufficient_funds"
    assert declined.json()["status"] == "requires_payment_method"
    assert pay(sandbox_gateway, secret).json()["status"] == "succeeded"

    events = events_of(sandbox_gateway, codec, producer, intent.stream_id)
    failures = [event.body["reason"] for event in events if event.type == tips.TIP_FAILED]
    assert failures == ["insufficient_funds", "declined"]
    view, _ = tips_view(events)
    assert view["failed"] == 0  # both declines were of a tip that was paid after all
    assert view["top_supporters"] == {"EUR": [{"supporter": "viewer-42", "amount_minor": 900}]}


def test_a_refund_asked_twice_gives_the_money_back_once(
    sandbox_gateway: Settings, codec: Codec, producer: EventProducer
) -> None:
    intent = start_tip(producer, amount=1000)
    payment = begin_payment(sandbox_gateway, intent)
    assert pay(sandbox_gateway, payment.client_secret).is_success
    tip = TipPayment.of_intent(intent)
    refund = RefundRequest(tip, payment.reference, 400, "refund-request-1", reason="goodwill")

    async def refund_twice() -> list[str]:
        provider = sandbox_of(sandbox_gateway)
        try:
            return [await provider.refund_payment(refund) for _ in range(2)]
        finally:
            await provider.aclose()

    first, second = asyncio.run(refund_twice())
    assert first == second

    events = events_of(sandbox_gateway, codec, producer, intent.stream_id)
    refunds = [event for event in events if event.type == tips.TIP_REFUNDED]
    assert len(refunds) == 2 and refunds[0].body["reason"] == "goodwill"
    view, rejected = tips_view(events)
    assert view["totals"]["EUR"] == {"captured": 1000, "refunded": 400, "tips": 1, "net": 600}
    assert rejected == []


def test_a_webhook_that_does_not_verify_is_refused_with_its_reason_and_appends_nothing(
    sandbox_gateway: Settings, codec: Codec, producer: EventProducer
) -> None:
    intent = start_tip(producer)
    tip = TipPayment.of_intent(intent)
    event = webhook_event("payment_intent.succeeded", payment_intent(tip, "pi_sandbox_x", None))
    body, headers = sandbox_of(sandbox_gateway).signed_webhook(event)
    url = sandbox_gateway.gateway_url + SANDBOX_WEBHOOK
    tampered = body.replace(b'"amount_received":500', b'"amount_received":50000')
    assert tampered != body
    forged = SandboxProvider("whsec_not_the_sandbox", sandbox_gateway.gateway_url)

    answers = [
        httpx.post(url, content=tampered, headers=headers),
        httpx.post(url, content=body, headers={"Content-Type": "application/json"}),
        httpx.post(url, content=body, headers=forged.signed_webhook(event)[1]),
        httpx.post(url, content=b"not json", headers=headers),
    ]

    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "bad_webhook"
        assert "Stripe-Signature header does not verify" in answer.json()["reason"]
    assert [e.type for e in events_of(sandbox_gateway, codec, producer, intent.stream_id)] == [
        tips.TIP_INTENT_CREATED
    ]


def test_paying_needs_a_client_secret_of_this_sandbox_and_a_test_card(
    sandbox_gateway: Settings, producer: EventProducer
) -> None:
    secret = begin_payment(sandbox_gateway, start_tip(producer)).client_secret
    not_ours = "pi_sandbox_0_secret_e30.AAAAAAAAAAAAAAAAAAAAAAAA"

    unknown = pay(sandbox_gateway, not_ours)
    real_card = pay(sandbox_gateway, secret, "5555555555554444x")
    empty = httpx.post(sandbox_gateway.gateway_url + PAY, json={"card_number": VISA})

    assert [a.status_code for a in (unknown, real_card, empty)] == [422, 422, 422]
    assert unknown.json()["fields"][0]["field"] == "client_secret"
    assert real_card.json()["fields"][0]["field"] == "card_number"
    assert VISA in real_card.json()["fields"][0]["reason"]
    assert empty.json()["fields"] == [
        {"field": "client_secret", "reason": "must be a non-empty string"}
    ]


def test_a_webhook_for_a_provider_this_gateway_does_not_use_is_not_found(
    sandbox_gateway: Settings,
) -> None:
    answer = httpx.post(sandbox_gateway.gateway_url + STRIPE_WEBHOOK, content=b"{}")
    assert answer.status_code == 404
    assert "this gateway takes 'sandbox'" in answer.json()["reason"]


def test_a_stripe_webhook_signed_with_the_endpoint_secret_captures_and_a_tampered_one_does_not(
    stripe_gateway: Settings, codec: Codec, producer: EventProducer
) -> None:
    intent = start_tip(producer, amount=1500, currency="USD")
    tip = TipPayment.of_intent(intent)
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {"object": payment_intent(tip, "pi_3StripeTest", None)},
    }
    payload = json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(payload, STRIPE_ENDPOINT_SECRET)
    url = stripe_gateway.gateway_url + STRIPE_WEBHOOK

    tampered = httpx.post(
        url, content=payload.replace("1500", "9999"), headers={"Stripe-Signature": signature}
    )
    delivered = [
        httpx.post(url, content=payload, headers={"Stripe-Signature": signature}) for _ in range(2)
    ]

    assert tampered.status_code == 400
    assert [answer.status_code for answer in delivered] == [200, 200]
    assert delivered[0].json()["event_type"] == tips.TIP_CAPTURED
    view, rejected = tips_view(events_of(stripe_gateway, codec, producer, intent.stream_id))
    assert view["totals"] == {"USD": {"captured": 1500, "refunded": 0, "tips": 1, "net": 1500}}
    assert rejected == []
