"""Tips: the gateway records the intent (202 with the tip id); capturing the money is the
payment flow's (a `PaymentFlow` set on the gateway: it starts the provider's payment once the
intent is in the log and adds what the client needs, e.g. a client secret, to the answer).
Without one, intents wait for a capture that only a payment provider appends. Refunds:
gateway/refunds.py."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import forbidden, not_found
from gateway.idempotency import HEADER
from gateway.reads import CURSOR, LIMIT, Read, page, ready_gateway, stream_view
from gateway.runtime import Gateway
from gateway.writes import Context, Who, Write, principal_of
from livefold.tips import tip_prefix
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


def tip_record(gateway: Gateway, stream_id: str, tip_id: str) -> dict[str, Any] | None:
    """A tip's own record (livefold.tips.tip_view). Its key ends with the supporter, whom the
    caller may not know: this looks through the stream's tips keys (fine for one tip)."""
    found = gateway.store.views("tips", stream_id, prefix=tip_prefix(stream_id, tip_id))
    return found[0] if found else None


def known_tip(gateway: Gateway, stream_id: str, tip_id: str) -> dict[str, Any]:
    record = tip_record(gateway, stream_id, tip_id)
    if record is None:
        raise not_found(f"tip {tip_id!r} of stream {stream_id!r}")
    return record


async def tip_details(request: Request) -> Response:
    """One tip: status (pending, failed, captured, partially_refunded, refunded), amount and
    refunds; for its supporter, the stream's streamer and admins."""
    gateway = ready_gateway(request)
    stream_id, tip_id = request.path_params["stream_id"], request.path_params["tip_id"]
    stream_view(gateway, stream_id)
    principal = principal_of(request)
    record = known_tip(gateway, stream_id, tip_id)
    if record["supporter"] != principal.user_id and not gateway.rights.owns(principal, stream_id):
        raise forbidden(f"only the supporter, the streamer of {stream_id} or an admin see a tip")
    return JSONResponse(record)


async def tip_records(request: Request) -> Response:
    """Every tip of the stream the gateway knows (status, amount, supporter, refunds), the
    latest started first; for the streamer and admins (the tips feed of the control panel)."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    stream_view(gateway, stream_id)
    if not gateway.rights.owns(principal_of(request), stream_id):
        raise forbidden(f"only the streamer of {stream_id} or an admin see its tips")
    records = gateway.store.views("tips", stream_id, prefix=f"{stream_id}/tip/")
    return JSONResponse(page(records[::-1], request))


READS = [
    Read("/streams/{stream_id}/tips", tip_totals, "Tip totals"),
    Read(
        "/streams/{stream_id}/tip-records",
        tip_records,
        "The stream's tips, latest first (the streamer, admins)",
        query=(LIMIT, CURSOR),
        moderators_only=True,
    ),
    Read("/streams/{stream_id}/tips/{tip_id}", tip_details, "One tip and its refunds"),
]
