"""A fold that raises on one event changes nothing: the live worker leaves the state as it was
before that event, sends the event to the dead-letter topic with the error, and goes on; replay
meets the same event the same way, so live and replayed states stay equal. The same for the
platform moderation state each worker folds by itself (agents/platform.py)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agents.folds import source_topics, tables
from agents.inspect import caught_up, live_states
from agents.replay import Replay, replay
from agents.service import FoldWorkerService
from infra.service import running
from livefold.folding import SEEN, digest
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import Record
from streams.producer import EventProducer
from tests import faulty_fold
from tests.faulty_fold import BOOM, NAME, PLATFORM_BOOM
from tests.fold_workers import dead_letters, event, group_settings
from tests.servers import log_to

TEXTS = ["first", BOOM, "last"]
BOOM_USER = f"{PLATFORM_BOOM}{uuid.uuid4().hex[:10]}"  # its roles make the platform fold raise


@dataclass
class FaultyWorkerService(FoldWorkerService):
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.faulty_fold",
            "worker",
            "--ready-file",
            str(self.heartbeat_file),
        ]


@pytest.fixture(scope="module")
def worker(stack: Settings) -> FaultyWorkerService:
    settings = group_settings(stack, "faulty")
    return FaultyWorkerService(
        name="faulty", workdir=settings.data_dir / "faulty", settings=settings
    )


@pytest.fixture(scope="module")
def folded(worker: FaultyWorkerService) -> Iterator[tuple[Settings, str, list[str]]]:
    """A worker with the faulty folds has folded three messages, the second one its bug's, and
    two roles granted to a user its platform fold raises on."""
    settings = worker.settings
    stream = f"s-{uuid.uuid4().hex[:10]}"
    messages = [
        event(
            "livefold.chat.MessageSent", stream, "ann", after=n / 1000, message_id=f"m{n}", text=t
        )
        for n, t in enumerate(TEXTS)
    ]
    messages += [
        event("livefold.accounts.RoleGranted", BOOM_USER, "system", user_id=BOOM_USER, role=role)
        for role in ("other", "editor")
    ]
    topics = source_topics(faulty_fold.domains())
    with running([worker], output=log_to(settings.data_dir / "logs")):
        producer = EventProducer(settings, Codec.from_settings(settings))
        try:
            # The first message in a batch of its own: the bug's batch then goes back to the
            # state as the first batch wrote it (agents.state_records.StateRecords.snapshot).
            for appended in (messages[:1], messages[1:]):
                producer.append_all(appended)
                deadline = time.monotonic() + 90
                while not caught_up(settings, topics):
                    assert time.monotonic() < deadline, "the worker did not fold the messages"
                    time.sleep(0.3)
        finally:
            producer.close()
        yield settings, stream, [m.event_id for m in messages]


def test_an_event_the_platform_fold_raises_on_is_dead_lettered_and_the_worker_goes_on(
    folded: tuple[Settings, str, list[str]], worker: FaultyWorkerService
) -> None:
    """Before, the first such event stopped the platform reader, and with it the worker."""
    settings = folded[0]
    deadline = time.monotonic() + 60
    while len(letters := dead_letters(settings, BOOM_USER)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(letters) == 2  # the second too: the reader went on after the first
    for headers in letters:
        assert headers["livefold.source.topic"] == event_topic("accounts")
        assert "a bug that shows on this one role" in headers["livefold.reason"]
    assert time.time() - worker.heartbeat_file.stat().st_mtime < 5  # alive, its heartbeat beats


def test_the_event_a_fold_raises_on_leaves_its_state_as_before(
    folded: tuple[Settings, str, list[str]],
) -> None:
    settings, stream, ids = folded
    live = live_states(settings, table_names=tables(faulty_fold.domains()))
    state = live[NAME][stream]
    assert state["messages"] == 2 and state["texts"] == ["first", "last"]
    assert ids[1] not in state[SEEN]  # not taken as applied: a fixed fold would apply it
    assert [m["text"] for m in live["chat"][stream]["recent"]] == TEXTS  # other folds did


def test_the_event_goes_to_the_dead_letter_topic_with_the_error(
    folded: tuple[Settings, str, list[str]],
) -> None:
    settings, stream, _ = folded
    headers = dead_letters(settings, stream)
    assert len(headers) == 1
    assert headers[0]["livefold.source.topic"] == event_topic("chat")
    reason = headers[0]["livefold.reason"]
    assert "the faulty fold failed on livefold.chat.MessageSent" in reason
    assert "a bug that shows on this one message" in reason


def test_replay_meets_the_same_event_the_same_way(
    folded: tuple[Settings, str, list[str]],
) -> None:
    settings, stream, ids = folded
    domains = faulty_fold.domains()
    again = replay(settings, clickhouse=False, domains=domains)
    failed = [f.record.event.event_id for f in again.failures if f.record.event.stream_id == stream]
    assert failed == [ids[1]]
    live = live_states(settings, table_names=tables(domains))
    for name in [NAME, "chat"]:
        assert digest({name: {stream: live[name][stream]}}) == digest(
            {name: {stream: again.tables[name][stream]}}
        ), name


def test_a_failure_after_earlier_events_of_the_same_batch_keeps_theirs() -> None:
    """Within one batch (replay's chunk), the state goes back to the batch's start and the
    key's earlier events are folded again; later events fold on top."""
    stream = f"s-{uuid.uuid4().hex[:10]}"
    texts = ["a", "b", BOOM, "c", BOOM, "d"]
    folding = Replay(faulty_fold.domains())
    for n, text in enumerate(texts):
        message = event("livefold.chat.MessageSent", stream, "ann", message_id=f"m{n}", text=text)
        folding.add(Record(message, event_topic("chat"), 0, n))
    folding.finish()
    state = folding.tables[NAME][stream]
    assert state["texts"] == ["a", "b", "c", "d"] and state["messages"] == 4
    assert len(folding.failures) == 2
