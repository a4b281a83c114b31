"""Tips: the gateway records the intent (202 with the tip id); capturing the money is the
payment flow's (a `PaymentFlow` set on the gateway: it starts the provider's payment once the
intent is in the log and adds what the client needs, e.g. a client secret, to the answer).
Without one, intents wait for a capture that only a payment provider appends."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.idempotency import HEADER
from gateway.reads import Read, ready_gateway, stream_view
from gateway.writes import Context, Who, Write
from streams.events import Event


class PaymentFlow(Protocol):
    async def begin(self, intent: Event) -> dict[str, Any]:
        """Start paying for a TipIntentCreated; return fields for the client (JSON)."""
        ...


async def keyed(context: Context) -> None:
    # The ledger counts a capture once per idempotency key: the client's, or the event id.
    context.payload["idempotency_key"] = context.request.headers.get(HEADER) or context.event_id


async def pay(context: Context, intent: Event) -> None:
    flow: PaymentFlow | None = context.gateway.payments
    context.answer["payment"] = None if flow is None else await flow.begin(intent)


WRITES = [
    Write(
        "POST",
        "/streams/{stream_id}/tips",
        "livefold.tips.TipIntentCreated",
        "Start a tip (amount in minor units, ISO-4217 currency); payment follows",
        Who.ANYONE,
        generated=("tip_id",),
        fixed={"idempotency_key": ""},
        prepare=keyed,
        after=pay,
    )
]


async def tip_totals(request: Request) -> Response:
    """The stream's tip ledger: totals per currency and top supporters."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    return JSONResponse(gateway.store.view("tips", stream_id) or {"stream_id": stream_id})


READS = [Read("/streams/{stream_id}/tips", tip_totals, "Tip totals")]
