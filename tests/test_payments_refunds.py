"""Refunding tips through real gateway processes, the real fold worker, Kafka, the sandbox
provider and stripe-mock: the gateway asks the provider, the provider's signed webhook appends
TipRefunded, and the tips ledger on the state topic shows the money given back, once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from gateway import idempotency
from infra.service import free_port
from infra.stripe_mock import TEST_SECRET_KEY, StripeMockService
from livefold import tips
from livefold.payments import RefundRequest, TipPayment
from livefold.payments.events import refund_event_id
from livefold.payments.provider import WEBHOOK_PATH
from livefold.payments.sandbox import payment_intent
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.events import Event
from streams.producer import EventProducer
from tests.gateways import Running, Tokens, eventually, gateway

STREAMER, VIEWER, ADMIN = "streamer-rae", "viewer-sol", "admin-tam"
PAY = "/api/v1/payments/sandbox/pay"
VISA = "4242424242424242"
STRIPE_ENDPOINT_SECRET = "whsec_livefold_refund_test"
ROLES = {STREAMER: {"streamer"}, ADMIN: {"admin"}}


class Client:
    def __init__(self, running: Running, tokens: Tokens):
        self.running = running
        self.tokens = tokens
        self.http = httpx.Client(base_url=running.url + "/api/v1", timeout=30)

    def call(self, method: str, path: str, user: str | None = None, **options: Any) -> Any:
        headers = dict(options.pop("headers", {}))
        if user is not None:
            headers.update(self.tokens.headers(user, ROLES.get(user)))
        return self.http.request(method, path, headers=headers, **options)

    def refund(
        self, stream_id: str, tip_id: str, user: str | None, key: str | None = None, **body: Any
    ) -> Any:
        headers = {} if key is None else {"Idempotency-Key": key}
        path = f"/streams/{stream_id}/tips/{tip_id}/refund"
        return self.call("POST", path, user, json=body, headers=headers)


def own_gateway(settings: Settings, name: str, **changes: Any) -> Any:
    """A gateway process whose sandbox delivers its webhooks to itself."""
    port = free_port()
    webhook = f"http://{settings.host}:{port}{WEBHOOK_PATH.format(provider='sandbox')}"
    return gateway(
        settings, name, gateway_port=port, payment_sandbox_webhook_url=webhook, **changes
    )


@pytest.fixture(scope="module")
def sandboxes(folded: Settings) -> Iterator[tuple[Client, Client]]:
    tokens = Tokens(folded)
    with (
        own_gateway(folded, "gateway-refunds-a") as a,
        own_gateway(folded, "gateway-refunds-b") as b,
    ):
        yield Client(a, tokens), Client(b, tokens)


@pytest.fixture(scope="module")
def striped(folded: Settings, stripe_mock: StripeMockService) -> Iterator[Client]:
    stripe_settings = {
        "payment_provider": "stripe",
        "stripe_secret_key": TEST_SECRET_KEY,
        "stripe_webhook_secret": STRIPE_ENDPOINT_SECRET,
        "stripe_api_base": stripe_mock.url,
    }
    with own_gateway(folded, "gateway-refunds-stripe", **stripe_settings) as running:
        yield Client(running, Tokens(folded))


@pytest.fixture(scope="module")
def codec(stack: Settings) -> Codec:
    return Codec.from_settings(stack)


def new_stream(client: Client) -> str:
    body = {"title": "Refund night", "category": "Talk"}
    answer = client.call("POST", "/streams", STREAMER, json=body)
    assert answer.status_code == 202, answer.text
    stream_id = str(answer.json()["stream_id"])
    eventually(lambda: client.call("GET", f"/streams/{stream_id}").status_code == 200)
    return stream_id


def start_tip(client: Client, stream_id: str, amount: int) -> tuple[str, dict[str, Any], str]:
    """A tip intent through the gateway: (tip id, its payment, the Idempotency-Key)."""
    key = f"tip-{uuid.uuid4()}"
    body = {"amount_minor": amount, "currency": "EUR", "message": "thanks"}
    answer = client.call(
        "POST", f"/streams/{stream_id}/tips", VIEWER, json=body, headers={"Idempotency-Key": key}
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["tip_id"], answer.json()["payment"], key


def tip_of(client: Client, stream_id: str, tip_id: str) -> dict[str, Any] | None:
    answer = client.call("GET", f"/streams/{stream_id}/tips/{tip_id}", VIEWER)
    return answer.json() if answer.status_code == 200 else None


def tip_in_state(client: Client, stream_id: str, tip_id: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        record = tip_of(client, stream_id, tip_id)
        return record if record is not None and record["status"] == status else None

    found: dict[str, Any] = eventually(reached)
    return found


def captured_sandbox_tip(client: Client, stream_id: str, amount: int) -> str:
    tip_id, payment, _ = start_tip(client, stream_id, amount)
    paid = httpx.post(
        client.running.url + PAY,
        json={"client_secret": payment["client_secret"], "card_number": VISA},
        timeout=30,
    )
    assert paid.status_code == 200 and paid.json()["status"] == "succeeded", paid.text
    tip_in_state(client, stream_id, tip_id, "captured")
    return tip_id


def ledger(client: Client, stream_id: str) -> dict[str, Any]:
    view = client.call("GET", f"/streams/{stream_id}/tips").json()
    euros: dict[str, Any] = view.get("totals", {}).get("EUR", {})
    return euros


def refunds_in_log(stack: Settings, codec: Codec, stream_id: str) -> list[Event]:
    producer = EventProducer(stack, codec)
    try:
        records = read_to_end(stack, codec, [event_topic("tips")], producer)
        return [
            record.event
            for record in records
            if record.event.stream_id == stream_id and record.event.type == tips.TIP_REFUNDED
        ]
    finally:
        producer.close()


def test_a_tip_is_refunded_in_part_then_in_full_once_per_request_on_any_gateway(
    sandboxes: tuple[Client, Client], stack: Settings, codec: Codec
) -> None:
    a, b = sandboxes
    stream_id = new_stream(a)
    tip_id = captured_sandbox_tip(a, stream_id, 1000)

    part = a.refund(stream_id, tip_id, STREAMER, "refund-part", amount_minor=400, reason="dup")
    again = a.refund(stream_id, tip_id, STREAMER, "refund-part", amount_minor=400, reason="dup")

    assert part.status_code == 202, part.text
    assert part.json() == {
        "tip_id": tip_id,
        "event_id": part.json()["event_id"],
        "amount_minor": 400,
        "currency": "EUR",
        "provider": "sandbox",
    }
    assert again.json() == part.json() and again.headers["Idempotent-Replay"] == "true"
    assert eventually(lambda: ledger(a, stream_id).get("refunded") == 400)
    # Gateway b never saw the request: once the refund is in its state, it answers from there.
    tip_in_state(b, stream_id, tip_id, "partially_refunded")
    elsewhere = b.refund(stream_id, tip_id, STREAMER, "refund-part", amount_minor=400, reason="dup")
    assert elsewhere.status_code == 202 and elsewhere.json() == part.json()

    too_much = a.refund(stream_id, tip_id, STREAMER, "refund-big", amount_minor=601)
    assert too_much.status_code == 422
    assert too_much.json()["fields"] == [
        {
            "field": "amount_minor",
            "reason": "must be at most 600 EUR minor units, what is left of the tip",
        }
    ]
    rest = a.refund(stream_id, tip_id, ADMIN, "refund-rest")
    assert rest.status_code == 202 and rest.json()["amount_minor"] == 600

    record = tip_in_state(a, stream_id, tip_id, "refunded")
    assert [(r["event_id"], r["amount_minor"], r["reason"]) for r in record["refunds"]] == [
        (part.json()["event_id"], 400, "dup"),
        (rest.json()["event_id"], 600, "requested_by_customer"),  # the sandbox says so
    ]
    assert ledger(a, stream_id) == {"captured": 1000, "refunded": 1000, "tips": 1, "net": 0}
    done = a.refund(stream_id, tip_id, STREAMER, "refund-more")
    assert done.status_code == 409 and done.json()["error"] == "already_refunded"
    # One webhook, so one TipRefunded, per request: b did not ask the provider again.
    logged = refunds_in_log(stack, codec, stream_id)
    assert sorted(e.event_id for e in logged) == sorted(
        [part.json()["event_id"], rest.json()["event_id"]]
    )


def test_refunds_are_refused_with_the_reason(sandboxes: tuple[Client, Client]) -> None:
    a, _ = sandboxes
    stream_id = new_stream(a)
    tip_id = captured_sandbox_tip(a, stream_id, 500)
    unpaid, _, _ = start_tip(a, stream_id, 300)
    tip_in_state(a, stream_id, unpaid, "pending")

    cases = {
        "unknown tip": a.refund(stream_id, str(uuid.uuid4()), STREAMER),
        "unknown stream": a.refund("no-such-stream", tip_id, ADMIN),
        "not captured": a.refund(stream_id, unpaid, STREAMER),
        "the supporter": a.refund(stream_id, tip_id, VIEWER),
        "anonymous": a.refund(stream_id, tip_id, None),
        "bad body": a.refund(stream_id, tip_id, STREAMER, amount_minor="5", reason="", to="me"),
    }
    statuses = {name: answer.status_code for name, answer in cases.items()}
    assert statuses == {
        "unknown tip": 404,
        "unknown stream": 404,
        "not captured": 409,
        "the supporter": 403,
        "anonymous": 401,
        "bad body": 422,
    }
    assert cases["not captured"].json()["error"] == "not_captured"
    assert {f["field"] for f in cases["bad body"].json()["fields"]} == {
        "amount_minor",
        "reason",
        "to",
    }
    first = a.refund(stream_id, tip_id, STREAMER, "refund-k", amount_minor=100)
    other = a.refund(stream_id, tip_id, STREAMER, "refund-k", amount_minor=200)
    assert first.status_code == 202 and other.status_code == 409
    assert other.json()["error"] == "idempotency_conflict"
    assert a.call("GET", f"/streams/{stream_id}/tips/{tip_id}", "viewer-else").status_code == 403


def test_a_stripe_tip_is_refunded_through_stripe_and_its_webhook_counts_once(
    striped: Client,
) -> None:
    stream_id = new_stream(striped)
    tip_id, payment, tip_key = start_tip(striped, stream_id, 1500)
    reference = payment["reference"]
    assert payment["provider"] == "stripe" and reference.startswith("pi_")
    tip = TipPayment(tip_id, stream_id, VIEWER, 1500, "EUR", tip_key)
    webhook = striped.running.url + WEBHOOK_PATH.format(provider="stripe")
    paid = deliver(webhook, "payment_intent.succeeded", payment_intent(tip, reference, None))
    assert paid.status_code == 200 and paid.json()["event_type"] == tips.TIP_CAPTURED
    assert tip_in_state(striped, stream_id, tip_id, "captured")["provider_reference"] == reference

    key = "stripe-refund-1"
    path = f"/api/v1/streams/{stream_id}/tips/{tip_id}/refund"
    refunded = striped.refund(stream_id, tip_id, ADMIN, key, amount_minor=500, reason="oops")
    assert refunded.status_code == 202, refunded.text
    request_key = idempotency.event_id_for(ADMIN, "POST", path, key)
    assert refunded.json()["event_id"] == refund_event_id("stripe", request_key)
    # What Stripe sends once the refund succeeded: the Refund, with the metadata livefold set.
    request = RefundRequest(tip, reference, 500, request_key, reason="oops")
    refund = {
        "id": "re_3LivefoldRefund",
        "object": "refund",
        "amount": 500,
        "currency": "eur",
        "payment_intent": reference,
        "metadata": request.metadata(),
        "status": "succeeded",
    }
    body = json.dumps(webhook_event("refund.updated", refund))
    signature = stripe.WebhookSignature.generate_signature_header(body, STRIPE_ENDPOINT_SECRET)
    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
    twice = [httpx.post(webhook, content=body, headers=headers) for _ in range(2)]

    assert [answer.status_code for answer in twice] == [200, 200]
    assert {answer.json()["event_id"] for answer in twice} == {refunded.json()["event_id"]}
    record = tip_in_state(striped, stream_id, tip_id, "partially_refunded")
    assert record["refunded_minor"] == 500
    assert eventually(lambda: ledger(striped, stream_id).get("net") == 1000)
    assert ledger(striped, stream_id) == {"captured": 1500, "refunded": 500, "tips": 1, "net": 1000}
    retried = striped.refund(stream_id, tip_id, ADMIN, key, amount_minor=500, reason="oops")
    assert retried.json() == refunded.json() and retried.headers["Idempotent-Replay"] == "true"


def webhook_event(kind: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": kind,
        "data": {"object": subject},
    }


def deliver(url: str, kind: str, subject: dict[str, Any]) -> httpx.Response:
    body = json.dumps(webhook_event(kind, subject))
    signature = stripe.WebhookSignature.generate_signature_header(body, STRIPE_ENDPOINT_SECRET)
    return httpx.post(url, content=body, headers={"Stripe-Signature": signature})
