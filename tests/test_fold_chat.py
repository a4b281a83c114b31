from __future__ import annotations

import random

from livefold import chat
from livefold.folding import Output, digest, dumps, loads
from streams.events import Event
from tests.fold_events import again, at, event, last, notices, reasons, run


def sent(t: float, message_id: str, text: str = "hello", author: str = "ann") -> Event:
    return event(chat.MESSAGE_SENT, t, actor=author, message_id=message_id, text=text)


def verdict(t: float, message_id: str, decided: str, rule: str = "automod") -> Event:
    return event(
        chat.VERDICT_ISSUED,
        t,
        actor="system",
        message_id=message_id,
        verdict=decided,
        rule=rule,
        score=0.5,
    )


def deleted(t: float, message_id: str) -> Event:
    return event(chat.MESSAGE_DELETED, t, actor="host", message_id=message_id, reason="moderator")


def pinned(t: float, message_id: str, pin: bool = True, until: float | None = None) -> Event:
    return event(
        chat.MESSAGE_PINNED,
        t,
        actor="host",
        message_id=message_id,
        pinned=pin,
        until=None if until is None else at(until),
    )


def shown(outputs: list[Output]) -> list[str]:
    return [m["message_id"] for m in last(outputs)["messages"]]


def test_a_message_without_a_verdict_is_not_published() -> None:
    states, outputs = run(chat, sent(0, "m1"))
    assert outputs == []
    assert states["s1"]["recent"] == []


def test_an_allowed_message_is_published() -> None:
    _, outputs = run(chat, sent(0, "m1", "hi all"), verdict(0.01, "m1", "allow"))
    (message,) = notices(outputs, "message")
    assert (message["message_id"], message["author"], message["text"]) == ("m1", "ann", "hi all")
    assert shown(outputs) == ["m1"]


def test_a_verdict_read_before_its_message_publishes_the_message_when_it_arrives() -> None:
    _, outputs = run(chat, verdict(0.01, "m1", "allow"), sent(0, "m1"))
    assert [m["message_id"] for m in notices(outputs, "message")] == ["m1"]


def test_a_held_message_is_published_once_a_moderator_allows_it_in_its_place_by_time() -> None:
    events = [
        sent(0, "m1"),
        verdict(0.01, "m1", "hold"),
        sent(1, "m2"),
        verdict(1.01, "m2", "allow"),
    ]
    states, outputs = run(chat, *events)
    assert shown(outputs) == ["m2"]
    _, released = chat.fold(states["s1"], verdict(30, "m1", "allow", rule="moderator"))
    assert [m["message_id"] for m in notices(released, "message")] == ["m1"]
    assert shown(released) == ["m1", "m2"]


def test_a_blocked_message_is_never_published_even_if_allowed_later() -> None:
    events = [sent(0, "m1"), verdict(0.01, "m1", "block"), verdict(5, "m1", "allow")]
    states, outputs = run(chat, *events)
    assert notices(outputs, "message") == []
    assert states["s1"]["recent"] == []


def test_blocking_a_published_message_withdraws_it() -> None:
    events = [sent(0, "m1"), verdict(0.01, "m1", "allow"), verdict(3, "m1", "block", "moderator")]
    _, outputs = run(chat, *events)
    assert notices(outputs, "removed") == [{"message_id": "m1"}]
    assert shown(outputs) == []


def test_deleting_a_message_withdraws_it_and_it_cannot_come_back() -> None:
    events = [sent(0, "m1"), verdict(0.01, "m1", "allow"), deleted(2, "m1")]
    _, outputs = run(chat, *events, verdict(3, "m1", "allow"), pinned(4, "m1"))
    assert notices(outputs, "deleted") == [{"message_id": "m1"}]
    assert shown(outputs) == []
    assert reasons(outputs) == ["message m1 was removed from chat"]


def test_a_duplicated_message_is_published_once() -> None:
    message = sent(0, "m1")
    _, outputs = run(chat, message, verdict(0.01, "m1", "allow"), again(message))
    assert len(notices(outputs, "message")) == 1


def test_a_pinned_message_is_shown_until_unpinned() -> None:
    events = [sent(0, "m1", "rules: be nice"), verdict(0.01, "m1", "allow"), pinned(1, "m1")]
    _, outputs = run(chat, *events)
    assert last(outputs)["pinned"]["text"] == "rules: be nice"
    _, outputs = run(chat, *events, pinned(2, "m1", pin=False))
    assert last(outputs)["pinned"] is None


def test_a_pin_with_an_end_goes_when_chat_time_passes_it() -> None:
    events = [sent(0, "m1"), verdict(0.01, "m1", "allow"), pinned(1, "m1", until=10)]
    _, outputs = run(chat, *events, sent(11, "m2"))
    assert last(outputs)["pinned"] is None


def test_a_message_pinned_before_its_allow_shows_once_allowed() -> None:
    _, outputs = run(chat, sent(0, "m1"), pinned(1, "m1"))
    assert last(outputs)["pinned"] is None
    _, outputs = run(chat, sent(0, "m1"), pinned(1, "m1"), verdict(2, "m1", "allow"))
    assert last(outputs)["pinned"]["message_id"] == "m1"


def test_pinning_an_unknown_message_is_rejected() -> None:
    _, outputs = run(chat, pinned(1, "nope"))
    assert reasons(outputs) == ["message nope is not in the recent chat"]


def test_the_recent_chat_keeps_the_newest_messages() -> None:
    events = []
    for i in range(chat.RECENT_LIMIT + 50):
        events += [sent(i, f"m{i:04}"), verdict(i + 0.01, f"m{i:04}", "allow")]
    states, outputs = run(chat, *events)
    assert len(states["s1"]["recent"]) == chat.RECENT_LIMIT
    assert shown(outputs)[0] == "m0050"
    assert last(outputs)["published"] == chat.RECENT_LIMIT + 50


def test_the_chat_view_says_whether_it_still_begins_with_the_first_message() -> None:
    events = []
    for i in range(chat.RECENT_LIMIT + 1):
        events += [sent(i, f"m{i:04}"), verdict(i + 0.01, f"m{i:04}", "allow")]
    _, outputs = run(chat, *events[:-2])
    assert last(outputs)["from_first"] is True  # all the stream's messages, RECENT_LIMIT of them
    _, outputs = run(chat, *events)
    assert last(outputs)["from_first"] is False


def test_the_state_is_the_same_whichever_topic_is_read_first() -> None:
    rng = random.Random(7)
    chat_topic: list[Event] = []
    moderation_topic: list[Event] = []
    for i in range(300):
        chat_topic.append(sent(i, f"m{i}"))
        decided = rng.choice(["allow"] * 8 + ["hold", "block"])
        moderation_topic.append(verdict(i + 0.01, f"m{i}", decided))
        if decided == "hold" and rng.random() < 0.5:
            moderation_topic.append(verdict(i + 5, f"m{i}", "allow", "moderator"))
        if rng.random() < 0.03:
            chat_topic.append(deleted(i + 0.5, f"m{rng.randrange(i + 1)}"))
    digests = set()
    for _ in range(5):
        merged, a, b = [], list(chat_topic), list(moderation_topic)
        while a or b:  # a random interleaving that keeps each topic's own order
            merged.append((a if a and (not b or rng.random() < 0.5) else b).pop(0))
        states, _ = run(chat, *merged)
        digests.add(digest({"chat": states}))
    assert len(digests) == 1


def test_a_chat_state_survives_a_json_round_trip_exactly() -> None:
    events = [sent(0, "m1"), verdict(0.01, "m1", "allow"), sent(1, "m2"), pinned(2, "m1")]
    states, _ = run(chat, *events)
    assert loads(dumps(states["s1"])) == states["s1"]
