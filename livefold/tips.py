"""Tips per stream: a ledger of captured money per currency and per supporter, top supporters,
an alert for overlays when a tip is captured, and each tip's own record (status, payment,
refunds) under `<stream>/tip/<tip_id>/u/<supporter>`: only its supporter's sockets get it, and
the gateway reads it to refund the tip.

A tip's message is shown (in the capture's alert) only once moderation allowed it: the
moderation fold judges it by chat's rules (`livefold.moderation.ContentJudged`, subject
"tip_message"); an alert whose message has no verdict yet waits for it, and a message held or
blocked leaves the alert without it (the money is counted either way).

A tip is identified by the idempotency key its client chose: a second capture with a key (or
tip id) already captured is rejected, so a retried payment webhook never counts twice. A capture
must match its tip's intent (tip id, idempotency key, amount and currency): any other capture,
signed or not, is refused as `Unfounded`, which the fold worker also dead-letters.
Refunds subtract from the capture they name, never beyond what it captured. `TipBook` and its
functions are shared with `stream`, whose totals must obey the same rule.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Notice, Output, Refused, Unfounded, Update, apply
from streams.events import Event

CHANNEL = "tips"
TIP_INTENT_CREATED = "livefold.tips.TipIntentCreated"
TIP_CAPTURED = "livefold.tips.TipCaptured"
TIP_FAILED = "livefold.tips.TipFailed"
TIP_REFUNDED = "livefold.tips.TipRefunded"
CONTENT_JUDGED = "livefold.moderation.ContentJudged"
HANDLES = frozenset({TIP_INTENT_CREATED, TIP_CAPTURED, TIP_FAILED, TIP_REFUNDED, CONTENT_JUDGED})
FLUSH_EVERY: float | None = None

TOP_SUPPORTERS = 10


class Capture(TypedDict):
    tip_id: str
    supporter: str
    currency: str
    amount: int  # minor units captured
    refunded: int  # minor units given back


class CurrencyTotals(TypedDict):
    captured: int
    refunded: int
    tips: int


class Expected(TypedDict):
    """What a tip's intent asked for: the one capture the book will take for it."""

    amount: int
    currency: str
    idempotency_key: str


class TipBook(TypedDict):
    captures: dict[str, Capture]  # idempotency key -> capture
    captured_tips: dict[str, str]  # tip id -> idempotency key
    totals: dict[str, CurrencyTotals]  # currency -> totals
    expected: dict[str, Expected]  # tip id -> intent not captured yet


class Intent(TypedDict):
    supporter: str
    amount: int
    currency: str
    message: str | None


class Refund(TypedDict):
    event_id: str  # the TipRefunded's (the gateway derives it from the refund request)
    amount_minor: int
    reason: str | None
    at: int


class TipRecord(TypedDict):
    supporter: str
    status: str  # pending | failed | captured | partially_refunded | refunded
    amount: int  # minor units asked for, then captured
    currency: str
    idempotency_key: str  # the capture's, which a refund names
    reference: str | None  # the provider's payment (TipCaptured.provider_reference)
    refunds: list[Refund]


class TipState(TypedDict):
    stream_id: str
    book: TipBook
    intents: dict[str, Intent]  # tip id -> intent not yet captured or failed
    records: dict[str, TipRecord]  # tip id -> record
    supporters: dict[str, dict[str, int]]  # supporter -> currency -> net minor units
    failed: int  # tips whose payment failed and was not captured since
    message_verdicts: dict[str, str]  # tip id -> moderation's verdict on its message
    waiting_alerts: dict[str, dict[str, Any]]  # tip id -> alert of a capture, message unjudged
    _seen: dict[str, None]


def new_book() -> TipBook:
    return TipBook(captures={}, captured_tips={}, totals={}, expected={})


def expect(book: TipBook, event: Event) -> Expected:
    """Record a tip's intent, the capture it allows; refuse a tip id started before."""
    body = event.body
    tip_id: str = body["tip_id"]
    expected = book.setdefault("expected", {})  # books stored before intents were kept
    if tip_id in expected or tip_id in book["captured_tips"]:
        raise Refused(f"tip {tip_id} was already started")
    intent = Expected(
        amount=int(body["amount_minor"]),
        currency=body["currency"],
        idempotency_key=body["idempotency_key"],
    )
    expected[tip_id] = intent
    return intent


def capture(book: TipBook, event: Event, supporter: str) -> Capture:
    """Record a capture, or refuse one whose idempotency key or tip id was captured before, or
    one unlike its tip's intent (`Unfounded`: someone should look at it)."""
    body = event.body
    key: str = body["idempotency_key"]
    tip_id: str = body["tip_id"]
    amount = int(body["amount_minor"])
    currency: str = body["currency"]
    if key in book["captures"] or tip_id in book["captured_tips"]:
        raise Refused(f"tip {tip_id} (idempotency key {key!r}) was already captured")
    intent = book.setdefault("expected", {}).get(tip_id)
    if intent is None:
        raise Unfounded(f"no tip {tip_id} was started in this stream: nothing to capture")
    differences = [
        f"{name} {given!r} where the intent has {wanted!r}"
        for name, given, wanted in (
            ("idempotency key", key, intent["idempotency_key"]),
            ("currency", currency, intent["currency"]),
            ("amount", amount, intent["amount"]),
        )
        if given != wanted
    ]
    if differences:
        raise Unfounded(f"the capture of tip {tip_id} does not match it: {'; '.join(differences)}")
    del book["expected"][tip_id]
    captured = Capture(
        tip_id=tip_id, supporter=supporter, currency=currency, amount=amount, refunded=0
    )
    book["captures"][key] = captured
    book["captured_tips"][tip_id] = key
    totals = book["totals"].setdefault(currency, CurrencyTotals(captured=0, refunded=0, tips=0))
    totals["captured"] += amount
    totals["tips"] += 1
    return captured


def refund(book: TipBook, event: Event) -> tuple[Capture, int]:
    """Give back part of a capture; refuse what was never captured or exceeds what is left."""
    body = event.body
    key: str = body["idempotency_key"]
    amount = int(body["amount_minor"])
    captured = book["captures"].get(key)
    if captured is None:
        raise Refused(f"no captured tip has idempotency key {key!r}")
    if body["currency"] != captured["currency"]:
        raise Refused(f"the tip was captured in {captured['currency']}, not {body['currency']}")
    left = captured["amount"] - captured["refunded"]
    if not 0 < amount <= left:
        raise Refused(f"a refund must be between 1 and the {left} minor units not yet refunded")
    captured["refunded"] += amount
    book["totals"][captured["currency"]]["refunded"] += amount
    return captured, amount


def net(book: TipBook) -> dict[str, int]:
    """Currency -> minor units kept (captured minus refunded)."""
    return {
        currency: totals["captured"] - totals["refunded"]
        for currency, totals in sorted(book["totals"].items())
    }


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: TipState | None, event: Event) -> tuple[TipState, list[Output]]:
    if state is None:
        state = TipState(
            stream_id=event.stream_id,
            book=new_book(),
            intents={},
            records={},
            supporters={},
            failed=0,
            message_verdicts={},
            waiting_alerts={},
            _seen={},
        )
    state.setdefault("records", {})  # states stored before tips had records
    state.setdefault("message_verdicts", {})  # ... before tip messages were moderated
    state.setdefault("waiting_alerts", {})
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: TipState, now: datetime) -> tuple[TipState, list[Output]]:
    return state, []


def top_supporters(state: TipState, currency: str) -> list[dict[str, Any]]:
    """The biggest supporters in one currency, by net amount (ties: supporter id)."""
    amounts = (
        (per_currency[currency], supporter)
        for supporter, per_currency in state["supporters"].items()
        if per_currency.get(currency, 0) > 0
    )
    best = heapq.nsmallest(TOP_SUPPORTERS, amounts, key=lambda pair: (-pair[0], pair[1]))
    return [{"supporter": supporter, "amount_minor": amount} for amount, supporter in best]


def view(state: TipState) -> dict[str, Any]:
    book = state["book"]
    return {
        "stream_id": state["stream_id"],
        "totals": {
            currency: {**totals, "net": totals["captured"] - totals["refunded"]}
            for currency, totals in sorted(book["totals"].items())
        },
        "top_supporters": {currency: top_supporters(state, currency) for currency in net(book)},
        "pending": len(state["intents"]),
        "failed": state["failed"],
    }


def tip_key(stream_id: str, tip_id: str, supporter: str) -> str:
    return f"{tip_prefix(stream_id, tip_id)}{supporter}"


def tip_prefix(stream_id: str, tip_id: str) -> str:
    """What a tip's record key starts with, whoever its supporter."""
    return f"{stream_id}/tip/{tip_id}/u/"


def tip_view(state: TipState, tip_id: str) -> Update:
    record = state["records"][tip_id]
    value = {
        "stream_id": state["stream_id"],
        "tip_id": tip_id,
        "supporter": record["supporter"],
        "status": record["status"],
        "amount_minor": record["amount"],
        "currency": record["currency"],
        "refunded_minor": sum(refund["amount_minor"] for refund in record["refunds"]),
        "idempotency_key": record["idempotency_key"],
        "provider_reference": record["reference"],
        "refunds": [dict(refund) for refund in record["refunds"]],
    }
    return Update(CHANNEL, tip_key(state["stream_id"], tip_id, record["supporter"]), value)


def _on_intent(state: TipState, event: Event) -> list[Output]:
    body = event.body
    tip_id: str = body["tip_id"]
    if tip_id in state["records"]:
        raise Refused(f"tip {tip_id} was already started")
    expect(state["book"], event)
    intent = Intent(
        supporter=event.actor_id,
        amount=int(body["amount_minor"]),
        currency=body["currency"],
        message=body.get("message"),
    )
    state["intents"][tip_id] = intent
    state["records"][tip_id] = TipRecord(
        supporter=intent["supporter"],
        status="pending",
        amount=intent["amount"],
        currency=intent["currency"],
        idempotency_key=body["idempotency_key"],
        reference=None,
        refunds=[],
    )
    return [Update(CHANNEL, state["stream_id"], view(state)), tip_view(state, tip_id)]


def _on_captured(state: TipState, event: Event) -> list[Output]:
    tip_id: str = event.body["tip_id"]
    intent = state["intents"].get(tip_id)
    record = state["records"].get(tip_id)
    # The capture usually comes from the payment system; the supporter is who started the tip.
    started_by = intent or record
    supporter = event.actor_id if started_by is None else started_by["supporter"]
    captured = capture(state["book"], event, supporter)
    if record is not None and record["status"] == "failed":  # declined, then paid after all
        state["failed"] -= 1
    state["intents"].pop(tip_id, None)
    state["records"][tip_id] = TipRecord(
        supporter=supporter,
        status="captured",
        amount=captured["amount"],
        currency=captured["currency"],
        idempotency_key=event.body["idempotency_key"],
        reference=event.body.get("provider_reference"),
        refunds=[],
    )
    _credit(state, supporter, captured["currency"], captured["amount"])
    alert = {
        "stream_id": state["stream_id"],
        "tip_id": tip_id,
        "supporter": supporter,
        "amount_minor": captured["amount"],
        "currency": captured["currency"],
        "message": None if intent is None else intent["message"],
        "occurred_at": event.occurred_at_ms,
    }
    outputs: list[Output] = [
        Update(CHANNEL, state["stream_id"], view(state)),
        _supporter_update(state, supporter),
        tip_view(state, tip_id),
    ]
    verdict = state["message_verdicts"].get(tip_id)
    if alert["message"] and verdict is None:
        state["waiting_alerts"][tip_id] = alert  # goes out with moderation's verdict
        return outputs
    return [_alert(alert, verdict), *outputs]


def _on_judged(state: TipState, event: Event) -> list[Output]:
    body = event.body
    if body["subject"] != "tip_message":
        return []
    tip_id = str(body["subject_id"])
    verdict = str(body["verdict"])
    state["message_verdicts"][tip_id] = verdict
    waiting = state["waiting_alerts"].pop(tip_id, None)
    return [] if waiting is None else [_alert(waiting, verdict)]


def _alert(alert: dict[str, Any], verdict: str | None) -> Notice:
    """The capture's alert for overlays, its message only if moderation allowed it."""
    if verdict != "allow":
        alert = {**alert, "message": None}
    return Notice(CHANNEL, alert["stream_id"], "alert", alert)


def _on_failed(state: TipState, event: Event) -> list[Output]:
    tip_id: str = event.body["tip_id"]
    if tip_id in state["book"]["captured_tips"]:
        raise Refused(f"tip {tip_id} was already captured; refund it instead")
    state["intents"].pop(tip_id, None)
    record = state["records"].get(tip_id)
    if record is None or record["status"] != "failed":  # a tip declined twice fails once
        state["failed"] += 1
    outputs: list[Output] = [Update(CHANNEL, state["stream_id"], view(state))]
    if record is not None:
        record["status"] = "failed"
        outputs.append(tip_view(state, tip_id))
    return outputs


def _on_refunded(state: TipState, event: Event) -> list[Output]:
    captured, amount = refund(state["book"], event)
    _credit(state, captured["supporter"], captured["currency"], -amount)
    outputs: list[Output] = [
        Update(CHANNEL, state["stream_id"], view(state)),
        _supporter_update(state, captured["supporter"]),
    ]
    tip_id = captured["tip_id"]
    record = state["records"].get(tip_id)
    if record is not None:  # None: captured before tips had records
        refunded = Refund(
            event_id=event.event_id,
            amount_minor=amount,
            reason=event.body.get("reason"),
            at=event.occurred_at_ms,
        )
        record["refunds"].append(refunded)
        whole = captured["refunded"] == captured["amount"]
        record["status"] = "refunded" if whole else "partially_refunded"
        outputs.append(tip_view(state, tip_id))
    return outputs


def _credit(state: TipState, supporter: str, currency: str, amount: int) -> None:
    per_currency = state["supporters"].setdefault(supporter, {})
    per_currency[currency] = per_currency.get(currency, 0) + amount


def _supporter_update(state: TipState, supporter: str) -> Update:
    """One supporter's own ledger in this stream, keyed "<stream id>/<supporter>"."""
    stream_id = state["stream_id"]
    amounts = dict(sorted(state["supporters"][supporter].items()))
    value = {"stream_id": stream_id, "supporter": supporter, "net": amounts}
    return Update(CHANNEL, f"{stream_id}/{supporter}", value)


_HANDLERS = {
    TIP_INTENT_CREATED: _on_intent,
    TIP_CAPTURED: _on_captured,
    TIP_FAILED: _on_failed,
    TIP_REFUNDED: _on_refunded,
    CONTENT_JUDGED: _on_judged,
}
