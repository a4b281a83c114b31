"""Co-stream invitations, folded by the stream fold (livefold/guests.py)."""

from __future__ import annotations

from typing import Any

from livefold import guests, stream
from livefold.folding import Update, digest, dumps, loads
from streams.events import Event, to_millis
from tests.fold_events import again, at, event, reasons, resent, run


def invited(invite: str, guest: str, t: float = 1, expires: float | None = None) -> Event:
    return event(
        guests.INVITED,
        t,
        actor="host",
        invite_id=invite,
        guest_id=guest,
        expires_at=None if expires is None else at(expires),
    )


def by_guest(kind: str, invite: str, guest: str, t: float, actor: str | None = None) -> Event:
    return event(kind, t, actor=actor or guest, invite_id=invite, guest_id=guest)


def left(invite: str, guest: str, t: float, reason: str = "left") -> Event:
    actor = "host" if reason == "kicked" else guest
    return event(guests.LEFT, t, actor=actor, invite_id=invite, guest_id=guest, reason=reason)


def on_stage_of(guest: str, invite: str = "i1", t: float = 1) -> list[Event]:
    return [
        invited(invite, guest, t),
        by_guest(guests.ACCEPTED, invite, guest, t + 1),
        by_guest(guests.JOINED, invite, guest, t + 2),
    ]


def records(outputs: list[Any], invite: str, guest: str) -> list[dict[str, Any]]:
    key = f"s1/guests/{invite}/u/{guest}"
    return [o.value for o in outputs if isinstance(o, Update) and o.key == key]


def test_an_invitation_goes_invited_accepted_live_left_and_the_stream_shows_who_is_on_it() -> None:
    events = [*on_stage_of("ann"), left("i1", "ann", 9)]
    _, outputs = run(stream, *events)
    assert [r["status"] for r in records(outputs, "i1", "ann")] == [
        "invited",
        "accepted",
        "live",
        "left",
    ]
    record = records(outputs, "i1", "ann")[2]
    assert record == {
        "stream_id": "s1",
        "invite_id": "i1",
        "guest_id": "ann",
        "invited_by": "host",
        "status": "live",
        "invited_at": record["invited_at"],
        "expires_at": None,
        "changed_at": record["invited_at"] + 2000,
        "muted": False,
    }
    stages = [o.value["on_stage"] for o in outputs if isinstance(o, Update) and o.key == "s1"]
    on_stage = {"guest_id": "ann", "invite_id": "i1", "since": to_millis(at(3)), "muted": False}
    assert stages[-2:] == [[on_stage], []]


def test_only_the_invited_guest_acts_on_an_invitation_and_in_order() -> None:
    events = [
        invited("i1", "ann"),
        by_guest(guests.ACCEPTED, "i1", "bob", 2),
        by_guest(guests.JOINED, "i1", "ann", 3),
        by_guest(guests.ACCEPTED, "nope", "ann", 4),
        left("i1", "ann", 5),
        left("i1", "ann", 6),
        by_guest(guests.ACCEPTED, "i1", "ann", 7),
    ]
    _, outputs = run(stream, *events)
    assert reasons(outputs) == [
        "invitation i1 is for ann, not bob",
        "invitation i1 is invited, not accepted",
        "invitation nope does not exist",
        "invitation i1 is over (left)",
        "invitation i1 is left, not invited",
    ]


def test_an_invitation_accepted_after_it_expired_is_refused() -> None:
    _, outputs = run(
        stream, invited("i1", "ann", 1, expires=10), by_guest(guests.ACCEPTED, "i1", "ann", 11)
    )
    assert reasons(outputs) == ["invitation i1 expired before it was accepted"]
    _, outputs = run(stream, invited("i2", "ann", 10, expires=10))
    assert reasons(outputs) == ["expires_at must be after the invitation is made"]


def test_a_guest_has_one_open_invitation_and_may_be_invited_again_once_it_is_over() -> None:
    events = [invited("i1", "ann"), invited("i2", "ann", 2), invited("i1", "bob", 3)]
    events += [invited("i3", "host", 4), left("i1", "ann", 5), invited("i4", "ann", 6)]
    states, outputs = run(stream, *events)
    assert reasons(outputs) == [
        "ann already has an open invitation (i1)",
        "invitation i1 was already made",
        "invite a guest other than yourself",
    ]
    assert {i: g["status"] for i, g in states["s1"]["guests"].items()} == {
        "i1": "left",
        "i4": "invited",
    }


def test_the_streamer_removes_a_guest_for_good() -> None:
    events = [*on_stage_of("ann"), left("i1", "ann", 9, reason="kicked")]
    events.append(by_guest(guests.JOINED, "i1", "ann", 10))
    states, outputs = run(stream, *events)
    assert records(outputs, "i1", "ann")[-1]["status"] == "removed"
    assert reasons(outputs) == ["invitation i1 is removed, not accepted"]
    assert stream.view(states["s1"])["on_stage"] == []


def muted(invite: str, guest: str, t: float, mute: bool = True) -> Event:
    return event(guests.MUTED, t, actor="host", invite_id=invite, guest_id=guest, muted=mute)


def test_the_streamer_mutes_and_unmutes_a_guest_on_an_open_invitation_only() -> None:
    events = [*on_stage_of("ann"), muted("i1", "ann", 5), muted("i1", "ann", 6, mute=False)]
    events += [muted("i1", "ann", 7), left("i1", "ann", 9), muted("i1", "ann", 10, mute=False)]
    events.append(muted("i1", "bob", 11))
    states, outputs = run(stream, *events)
    shown = [r["muted"] for r in records(outputs, "i1", "ann")]
    assert shown == [False, False, False, True, False, True, True]
    stages = [o.value["on_stage"] for o in outputs if isinstance(o, Update) and o.key == "s1"]
    assert [stage[0]["muted"] for stage in stages if stage][-3:] == [True, False, True]
    assert reasons(outputs) == ["invitation i1 is over (left)", "invitation i1 is for ann, not bob"]
    assert stream.view(states["s1"])["on_stage"] == []


def test_a_stream_has_a_bounded_number_of_open_and_of_kept_invitations() -> None:
    crowd = [invited(f"i{n}", f"guest-{n}", 1 + n / 1000) for n in range(guests.MAX_OPEN + 1)]
    _, outputs = run(stream, *crowd)
    assert reasons(outputs) == [f"a stream has at most {guests.MAX_OPEN} open invitations"]
    churn: list[Event] = []
    for n in range(guests.KEPT + 5):
        churn += [invited(f"c{n}", "ann", 1 + n), left(f"c{n}", "ann", 1.5 + n)]
    states, _ = run(stream, *churn, invited("last", "bob", 900))
    kept = states["s1"]["guests"]
    assert len(kept) == guests.KEPT and "c0" not in kept and "last" in kept


def test_a_redelivered_costream_event_applies_once_and_topics_interleave_freely() -> None:
    events = on_stage_of("ann")
    _, outputs = run(stream, *events, again(events[1]), resent(events[2]))
    assert reasons(outputs) == ["invitation i1 is live, not accepted"]
    lifecycle = [event(stream.CREATED, 0, actor="host", title="t", category="c")]
    lifecycle.append(event(stream.WENT_LIVE, 2, actor="host"))
    one, _ = run(stream, *lifecycle, *events)
    other, _ = run(stream, *events, *lifecycle)
    assert digest({"stream": one}) == digest({"stream": other})
    assert stream.view(one["s1"])["on_stage"][0]["guest_id"] == "ann"


def test_invitations_survive_a_json_round_trip_exactly() -> None:
    states, _ = run(stream, *on_stage_of("ann"), invited("i2", "bob", 5, expires=60))
    assert loads(dumps(states["s1"])) == states["s1"]
