"""Refunding a tip: `POST /api/v1/streams/{stream_id}/tips/{tip_id}/refund`, body
`{"amount_minor"?: int, "reason"?: str}` (no amount: all that is left), for the stream's streamer
and admins (it is the streamer's money that goes back).

The gateway appends nothing: it checks the tip's record (livefold.tips, on the state topic), asks
the payment provider to refund, and answers 202 once the provider took the request. TipRefunded
comes the way captures do, from the provider's signed webhook (gateway/payments.py), so the
ledger moves once the money did.

A retry never refunds twice: the request's key (from the Idempotency-Key, like a write's event id)
is the provider's idempotency key and names the refund in its metadata, which makes the refund's
event id (`refund_event_id`). So a retry gets this process's remembered answer, or, on another
gateway, the answer rebuilt from the tip's record once the refund is in it, or the provider's
answer to the same key.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import idempotency
from gateway.errors import ApiError, invalid
from gateway.openapi import Operations, errors, json_content, operation_id, path_parameters
from gateway.payments import flow_of
from gateway.runtime import gateway_of
from gateway.tips import known_tip
from gateway.writes import (
    API,
    Who,
    check_allowed,
    limited,
    principal_of,
    read_json,
    stream_known,
)
from livefold.payments import PaymentError, RefundRequest, TipPayment
from livefold.payments.events import refund_event_id
from streams.validation import FieldError

ROUTE = "/streams/{stream_id}/tips/{tip_id}/refund"
PATH = API + ROUTE
FIELDS = ("amount_minor", "reason")
LONGEST_REASON = 500


def refund_asked(body: Any) -> tuple[int | None, str | None]:
    """The body's (amount_minor, reason); 422 with each wrong field."""
    if not isinstance(body, dict):
        raise invalid([FieldError("body", "must be a JSON object")])
    wrong = [
        FieldError(name, f"is not a field of a refund ({', '.join(FIELDS)})")
        for name in sorted(set(body) - set(FIELDS))
    ]
    amount, reason = body.get("amount_minor"), body.get("reason")
    if amount is not None and (
        not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= 2**53
    ):
        reason_text = "must be a positive integer (minor units); leave it out to refund the rest"
        wrong.append(FieldError("amount_minor", reason_text))
    if reason is not None and (
        not isinstance(reason, str) or not 1 <= len(reason) <= LONGEST_REASON
    ):
        wrong.append(FieldError("reason", f"must be 1..{LONGEST_REASON} characters long"))
    if wrong:
        raise invalid(wrong)
    return amount, reason


def refundable(record: dict[str, Any], asked: int | None) -> int:
    """How much to refund: what was asked, or all that is left; else 409 or 422."""
    tip_id, status = record["tip_id"], record["status"]
    if status in ("pending", "failed"):
        raise ApiError(409, "not_captured", f"tip {tip_id} is {status}: it has no money to refund")
    left = record["amount_minor"] - record["refunded_minor"]
    if left <= 0:
        raise ApiError(409, "already_refunded", f"tip {tip_id} was already refunded in full")
    if record["provider_reference"] is None:
        raise ApiError(409, "no_payment", f"tip {tip_id} has no provider payment to refund")
    if asked is not None and asked > left:
        reason = f"must be at most {left} {record['currency']} minor units, what is left of the tip"
        raise invalid([FieldError("amount_minor", reason)])
    return left if asked is None else asked


def answer_of(record: dict[str, Any], event_id: str, amount: int, provider: str) -> dict[str, Any]:
    return {
        "tip_id": record["tip_id"],
        "event_id": event_id,  # the TipRefunded the provider's webhook appends
        "amount_minor": amount,
        "currency": record["currency"],
        "provider": provider,
    }


async def refund_tip(request: Request) -> Response:
    """Refund a captured tip, in part or in full, through its payment provider."""
    gateway = gateway_of(request)
    principal = principal_of(request)
    limited(gateway, request, principal)
    gateway.require_ready()
    body = await read_json(request, gateway.settings.gateway_max_body_bytes)
    body = {} if body is None else body
    asked, reason = refund_asked(body)
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        request_key = str(uuid.uuid4())
    else:
        valid_key = idempotency.validated_key(key)
        request_key = idempotency.event_id_for(
            principal.user_id, request.method, request.url.path, valid_key
        )
    mark = idempotency.fingerprint(body)
    if key is not None and (answer := gateway.answers.recall(request_key, mark)) is not None:
        return JSONResponse(answer.body, answer.status, headers={"Idempotent-Replay": "true"})
    stream_id, tip_id = request.path_params["stream_id"], request.path_params["tip_id"]
    stream_known(gateway, stream_id)
    check_allowed(gateway, Who.OWNER, principal, stream_id)
    provider = flow_of(request).provider
    record = known_tip(gateway, stream_id, tip_id)
    event_id = refund_event_id(provider.name, request_key)
    done = next((r for r in record["refunds"] if r["event_id"] == event_id), None)
    if done is not None:  # this very request, carried out by another gateway (or before)
        if asked is not None and asked != done["amount_minor"]:
            raise ApiError(
                409,
                "idempotency_conflict",
                "this Idempotency-Key was used for a different request; use a new key",
            )
        amount = int(done["amount_minor"])
    else:
        amount = refundable(record, asked)
        await ask_provider(request, record, amount, request_key, reason)
    answer_body = answer_of(record, event_id, amount, provider.name)
    if key is not None:
        gateway.answers.remember(request_key, mark, 202, answer_body)
    return JSONResponse(answer_body, 202)


async def ask_provider(
    request: Request, record: dict[str, Any], amount: int, request_key: str, reason: str | None
) -> None:
    tip = TipPayment(
        tip_id=record["tip_id"],
        stream_id=record["stream_id"],
        supporter=record["supporter"],
        amount_minor=record["amount_minor"],
        currency=record["currency"],
        idempotency_key=record["idempotency_key"],
    )
    refund = RefundRequest(tip, record["provider_reference"], amount, request_key, reason)
    try:
        await flow_of(request).provider.refund_payment(refund)
    except PaymentError as error:
        raise ApiError(
            503 if error.retriable else 502,
            "payment_unavailable" if error.retriable else "payment_refused",
            f"tip {tip.tip_id} was not refunded: {error.reason}"
            + ("; retry with the same Idempotency-Key" if error.retriable else ""),
        ) from None


def routes() -> list[BaseRoute]:
    return [Route(PATH, refund_tip, methods=["POST"])]


ANSWER = {
    "type": "object",
    "properties": {
        "tip_id": {"type": "string"},
        "event_id": {"type": "string", "description": "the TipRefunded the webhook appends"},
        "amount_minor": {"type": "integer"},
        "currency": {"type": "string"},
        "provider": {"type": "string"},
    },
    "required": ["tip_id", "event_id", "amount_minor", "currency", "provider"],
}

OPERATIONS: Operations = {
    PATH: {
        "post": {
            "summary": "Refund a captured tip, in part or in full, through its payment provider",
            "description": "Appends nothing: 202 once the provider accepted the refund, whose "
            "webhook appends the TipRefunded `event_id`. A retry with the same Idempotency-Key "
            "refunds once, on any gateway.",
            "operationId": operation_id("POST", ROUTE),
            "security": [{"bearer": []}],
            "parameters": [
                *path_parameters(PATH),
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "a retry with the same key never refunds twice",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                },
            ],
            "requestBody": {
                "required": False,
                "content": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "amount_minor": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 2**53,
                                "description": "minor units; left out: all that is left",
                            },
                            "reason": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": LONGEST_REASON,
                            },
                        },
                        "additionalProperties": False,
                    }
                ),
            },
            "responses": {
                "202": {
                    "description": "the provider took the refund",
                    "content": json_content(ANSWER),
                },
                **errors(
                    {
                        "401": "not signed in, or the token is expired or forged",
                        "403": "neither the stream's streamer nor an admin",
                        "404": "unknown stream or tip",
                        "409": "the tip is not captured or was refunded in full, or the "
                        "Idempotency-Key was used for another request",
                        "413": "body too large",
                        "422": "invalid body, or more than is left of the tip",
                        "429": "rate limited (see Retry-After)",
                        "502": "the provider refused the refund",
                        "503": "not ready, or the provider is unavailable: retry with the same key",
                    }
                ),
            },
        }
    }
}
