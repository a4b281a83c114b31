from __future__ import annotations

from livefold import tips
from livefold.folding import Rejected, dumps, loads
from streams.events import Event
from tests.fold_events import again, event, last, notices, reasons, resent, run, updates


def intent(
    tip: str, supporter: str, amount: int, currency: str = "EUR", message: str = ""
) -> Event:
    return event(
        tips.TIP_INTENT_CREATED,
        0,
        actor=supporter,
        tip_id=tip,
        amount_minor=amount,
        currency=currency,
        message=message,
        idempotency_key=f"key-{tip}",
    )


def captured(
    tip: str, amount: int, currency: str = "EUR", key: str = "", reference: str | None = None
) -> Event:
    return event(
        tips.TIP_CAPTURED,
        1,
        actor="payments",
        tip_id=tip,
        amount_minor=amount,
        currency=currency,
        idempotency_key=key or f"key-{tip}",
        provider_reference=reference,
    )


def refunded(tip: str, amount: int, currency: str = "EUR", reason: str | None = None) -> Event:
    return event(
        tips.TIP_REFUNDED,
        2,
        actor="payments",
        tip_id=tip,
        amount_minor=amount,
        currency=currency,
        idempotency_key=f"key-{tip}",
        reason=reason,
    )


def judged(tip: str, verdict: str, rule: str = "clean") -> Event:
    """Moderation's verdict on a tip's message."""
    return event(
        tips.CONTENT_JUDGED,
        0.5,
        actor="system",
        subject="tip_message",
        subject_id=tip,
        author_id="ann",
        verdict=verdict,
        rule=rule,
        score=0.0,
    )


def tip(tip_id: str, supporter: str, amount: int, currency: str = "EUR") -> list[Event]:
    return [intent(tip_id, supporter, amount, currency), captured(tip_id, amount, currency)]


def test_a_captured_tip_credits_the_stream_and_the_supporter_and_raises_an_alert() -> None:
    _, outputs = run(
        tips,
        intent("t1", "ann", 500, message="great run!"),
        judged("t1", "allow"),
        captured("t1", 500),
    )
    assert notices(outputs, "alert") == [
        {
            "stream_id": "s1",
            "tip_id": "t1",
            "supporter": "ann",
            "amount_minor": 500,
            "currency": "EUR",
            "message": "great run!",
            "occurred_at": notices(outputs, "alert")[0]["occurred_at"],
        }
    ]
    ledger = last(outputs, "s1")
    assert ledger["totals"] == {"EUR": {"captured": 500, "refunded": 0, "tips": 1, "net": 500}}
    assert last(outputs, "s1/ann")["net"] == {"EUR": 500}


def test_a_tips_message_waits_for_moderation_and_shows_only_if_allowed() -> None:
    for verdict, shown in [("allow", "great run!"), ("hold", None), ("block", None)]:
        states, outputs = run(
            tips,
            intent("t1", "ann", 500, message="great run!"),
            captured("t1", 500),  # the verdict comes later: the alert waits for it
        )
        assert notices(outputs, "alert") == []
        assert last(outputs, "s1")["totals"]["EUR"]["captured"] == 500  # the money counts
        state, later = tips.fold(states["s1"], judged("t1", verdict))
        (alert,) = notices(later, "alert")
        assert alert["message"] == shown, verdict
        assert state["waiting_alerts"] == {}


def test_a_verdict_before_the_intent_is_kept_and_the_order_does_not_change_the_state() -> None:
    events = [intent("t1", "ann", 500, message="spam spam"), judged("t1", "block", "blocked_term")]
    events.append(captured("t1", 500))
    forward, outputs = run(tips, *events)
    backward, _ = run(tips, events[1], events[0], events[2])
    assert [alert["message"] for alert in notices(outputs, "alert")] == [None]
    assert forward == backward


def test_the_same_idempotency_key_never_captures_twice() -> None:
    capture = captured("t1", 500)
    retried_webhook = resent(capture)  # same key, a new event id
    _, outputs = run(tips, intent("t1", "ann", 500), capture, retried_webhook)
    assert reasons(outputs) == ["tip t1 (idempotency key 'key-t1') was already captured"]
    assert last(outputs, "s1")["totals"]["EUR"]["captured"] == 500
    assert len(notices(outputs, "alert")) == 1


def test_a_tip_id_captured_under_another_key_is_refused_too() -> None:
    _, outputs = run(tips, *tip("t1", "ann", 500), captured("t1", 500, key="other-key"))
    assert reasons(outputs) == ["tip t1 (idempotency key 'other-key') was already captured"]


def test_a_duplicated_capture_event_counts_once_without_a_rejection() -> None:
    capture = captured("t1", 500)
    states, outputs = run(tips, intent("t1", "ann", 500), capture, again(capture))
    assert reasons(outputs) == []
    assert states["s1"]["supporters"] == {"ann": {"EUR": 500}}


def test_a_refund_subtracts_from_the_stream_and_the_supporter() -> None:
    _, outputs = run(tips, *tip("t1", "ann", 500), refunded("t1", 200))
    assert last(outputs, "s1")["totals"]["EUR"] == {
        "captured": 500,
        "refunded": 200,
        "tips": 1,
        "net": 300,
    }
    assert last(outputs, "s1/ann")["net"] == {"EUR": 300}


def test_a_refund_beyond_what_was_captured_is_rejected() -> None:
    _, outputs = run(tips, *tip("t1", "ann", 500), refunded("t1", 400), refunded("t1", 200))
    assert reasons(outputs) == [
        "a refund must be between 1 and the 100 minor units not yet refunded"
    ]


def test_a_refund_of_a_tip_never_captured_is_rejected() -> None:
    _, outputs = run(tips, intent("t1", "ann", 500), refunded("t1", 100))
    assert reasons(outputs) == ["no captured tip has idempotency key 'key-t1'"]


def test_a_refund_in_another_currency_is_rejected() -> None:
    _, outputs = run(tips, *tip("t1", "ann", 500), refunded("t1", 100, "USD"))
    assert reasons(outputs) == ["the tip was captured in EUR, not USD"]


def test_currencies_are_kept_apart() -> None:
    states, outputs = run(tips, *tip("t1", "ann", 500), *tip("t2", "ann", 300, "USD"))
    assert tips.net(states["s1"]["book"]) == {"EUR": 500, "USD": 300}
    assert last(outputs, "s1/ann")["net"] == {"EUR": 500, "USD": 300}


def test_top_supporters_are_ranked_by_what_they_gave_net() -> None:
    events = [*tip("t1", "ann", 500), *tip("t2", "bob", 900), *tip("t3", "ann", 300)]
    events += [*tip("t4", "cy", 1000), refunded("t4", 600), *tip("t5", "dee", 100, "USD")]
    _, outputs = run(tips, *events)
    top = last(outputs, "s1")["top_supporters"]
    assert top["EUR"] == [
        {"supporter": "bob", "amount_minor": 900},
        {"supporter": "ann", "amount_minor": 800},
        {"supporter": "cy", "amount_minor": 400},
    ]
    assert top["USD"] == [{"supporter": "dee", "amount_minor": 100}]


def test_a_failed_tip_moves_no_money() -> None:
    failed = event(
        tips.TIP_FAILED,
        1,
        actor="payments",
        tip_id="t1",
        reason="declined",
        idempotency_key="key-t1",
    )
    states, outputs = run(tips, intent("t1", "ann", 500), failed)
    assert last(outputs, "s1")["totals"] == {}
    assert (states["s1"]["failed"], states["s1"]["intents"]) == (1, {})


def test_a_tip_ledger_survives_a_json_round_trip_exactly() -> None:
    states, _ = run(tips, *tip("t1", "ann", 500), refunded("t1", 100), intent("t2", "bob", 5))
    assert loads(dumps(states["s1"])) == states["s1"]


def test_each_tip_has_a_record_for_its_supporter_from_intent_to_refunds() -> None:
    first, rest = refunded("t1", 200, reason="duplicate"), refunded("t1", 300)
    events = [intent("t1", "ann", 500), captured("t1", 500, reference="pi_1"), first, rest]
    _, outputs = run(tips, *events)
    key = "s1/tip/t1/u/ann"
    assert [(r["status"], r["refunded_minor"]) for r in updates(outputs, key)] == [
        ("pending", 0),
        ("captured", 0),
        ("partially_refunded", 200),
        ("refunded", 500),
    ]
    record = last(outputs, key)
    assert record["provider_reference"] == "pi_1" and record["idempotency_key"] == "key-t1"
    assert [(r["event_id"], r["amount_minor"], r["reason"]) for r in record["refunds"]] == [
        (first.event_id, 200, "duplicate"),
        (rest.event_id, 300, None),
    ]
    assert key.startswith(tips.tip_prefix("s1", "t1"))


def test_a_declined_tip_is_failed_until_a_later_payment_captures_it() -> None:
    declined = event(
        tips.TIP_FAILED, 1, actor="ann", tip_id="t1", reason="declined", idempotency_key="key-t1"
    )
    _, outputs = run(tips, intent("t1", "ann", 500), declined, captured("t1", 500))
    statuses = [r["status"] for r in updates(outputs, "s1/tip/t1/u/ann")]
    assert statuses == ["pending", "failed", "captured"]
    assert last(outputs, "s1")["failed"] == 0  # the stream's count is of tips failed now


def test_a_tip_declined_twice_counts_as_one_failed_tip() -> None:
    def declined(seconds: float) -> Event:
        return event(tips.TIP_FAILED, seconds, actor="ann", tip_id="t1", reason="declined",
                     idempotency_key="key-t1")  # fmt: skip

    _, outputs = run(tips, intent("t1", "ann", 500), declined(1), declined(2))
    assert last(outputs, "s1")["failed"] == 1


def test_a_second_intent_for_a_tip_id_is_refused() -> None:
    first = intent("t1", "ann", 500)
    _, outputs = run(tips, first, resent(first, amount_minor=9000))
    assert reasons(outputs) == ["tip t1 was already started"]
    assert last(outputs, "s1/tip/t1/u/ann")["amount_minor"] == 500


def test_a_capture_unlike_its_intent_is_refused_for_the_dead_letter_topic() -> None:
    wrong = [
        captured("t1", 100_000_000),  # a signed webhook inflating the amount
        captured("t1", 100, currency="USD"),
        captured("t1", 100, key="someone-elses-key"),
        captured("t9", 100),  # no such tip was started
    ]
    state, outputs = run(tips, intent("t1", "ann", 100), *wrong)
    refused = [output for output in outputs if isinstance(output, Rejected)]
    assert [r.event.event_id for r in refused] == [e.event_id for e in wrong]
    assert all(r.dead_letter for r in refused)
    assert "amount 100000000 where the intent has 100" in refused[0].reason
    assert "currency 'USD' where the intent has 'EUR'" in refused[1].reason
    assert "idempotency key 'someone-elses-key'" in refused[2].reason
    assert refused[3].reason == "no tip t9 was started in this stream: nothing to capture"
    assert notices(outputs, "alert") == []
    assert tips.view(state["s1"])["totals"] == {}

    _, outputs = run(tips, intent("t1", "ann", 100), *wrong, captured("t1", 100))
    assert last(outputs, "s1")["totals"]["EUR"]["captured"] == 100


def test_a_retried_capture_is_refused_without_dead_lettering() -> None:
    capture = captured("t1", 500)
    _, outputs = run(tips, intent("t1", "ann", 500), capture, resent(capture))
    refused = [output for output in outputs if isinstance(output, Rejected)]
    assert len(refused) == 1 and not refused[0].dead_letter
