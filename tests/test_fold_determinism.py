"""Folding the log is deterministic: the same events give the same states, whatever the
duplicates, restarts, timer ticks or interleaving of topics a live run went through."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from bench.sessions import generate
from livefold.domains import DOMAINS
from livefold.folding import digest, dumps, fold_all, loads
from streams.events import Event

Tables = dict[str, dict[str, Any]]


def fold_session(events: list[Event], tables: Tables | None = None) -> Tables:
    tables = tables if tables is not None else {name: {} for name in DOMAINS}
    for name, domain in DOMAINS.items():
        fold_all(domain, events, tables[name])
    return tables


def session(duplicates: float = 0.0) -> list[Event]:
    return generate(seed=11, streams=3, seconds=240, duplicates=duplicates)


def test_folding_the_same_session_twice_gives_the_same_digest() -> None:
    events = session(duplicates=0.02)
    assert digest(fold_session(events)) == digest(fold_session(list(events)))


def test_duplicated_events_change_nothing() -> None:
    clean = session()
    with_duplicates = session(duplicates=0.05)
    assert len(with_duplicates) > len(clean) * 1.04
    rng = random.Random(3)
    # every event once more, up to a thousand events later
    positions = [(float(i), e) for i, e in enumerate(clean)]
    positions += [(i + rng.randint(1, 1000) + 0.5, e) for i, e in enumerate(clean)]
    resent = [e for _, e in sorted(positions, key=lambda pair: pair[0])]
    expected = digest(fold_session(clean))
    assert digest(fold_session(with_duplicates)) == expected
    assert digest(fold_session(resent)) == expected


def test_a_restart_from_stored_states_folds_on_to_the_same_digest() -> None:
    events = session(duplicates=0.02)
    half = len(events) // 2
    before = fold_session(events[:half])
    stored = {
        name: {key: loads(dumps(s)) for key, s in states.items()} for name, states in before.items()
    }
    redelivered = events[half - 500 :]  # the records after the last commit come again
    assert digest(fold_session(redelivered, stored)) == digest(fold_session(events))


def test_timer_flushes_at_any_moment_change_no_state() -> None:
    events = session()
    tables: Tables = {name: {} for name in DOMAINS}
    rng = random.Random(5)
    for start in range(0, len(events), 97):
        batch = events[start : start + 97]
        fold_session(batch, tables)
        now = batch[-1].occurred_at + timedelta(seconds=rng.choice([-30, 0, 0.3, 2, 90]))
        for name, domain in DOMAINS.items():
            for key, state in tables[name].items():
                tables[name][key] = domain.flush(state, now)[0]
    assert digest(tables) == digest(fold_session(events))


def test_any_interleaving_of_the_topics_gives_the_same_digest() -> None:
    events = session(duplicates=0.01)
    topics: dict[str, list[Event]] = {}
    for event in events:
        topics.setdefault(event.domain, []).append(event)
    expected = digest(fold_session(events))
    rng = random.Random(9)
    for _ in range(3):
        queues = {topic: list(reversed(log)) for topic, log in topics.items()}
        merged: list[Event] = []
        while queues:  # each topic keeps its own order; which topic goes next is random
            topic = rng.choice(sorted(queues))
            merged += [
                queues[topic].pop() for _ in range(min(rng.randint(1, 300), len(queues[topic])))
            ]
            if not queues[topic]:
                del queues[topic]
        assert digest(fold_session(merged)) == expected


def test_the_digest_notices_a_missing_event() -> None:
    events = session()
    vote = next(i for i, event in enumerate(events) if event.name == "VoteCast")
    assert digest(fold_session(events[:vote] + events[vote + 1 :])) != digest(fold_session(events))
