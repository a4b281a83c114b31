"""A fold state's dedupe window is written in chunks, only those a batch appended to, and comes
back whole after a recovery (agents/state_records.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

from agents.state_records import (
    CHUNK,
    ChangelogFormat,
    Stage,
    StateRecords,
    chunk_of,
    staged,
    state_of,
)
from livefold.folding import DEDUPE_WINDOW, SEEN, dumps, facts, rebuilt_fields, remember
from livefold.moderation import fold as moderation
from livefold.moderation.state import PLATFORM
from livefold.moderation.state import new_state as new_moderation_state
from streams.events import Event, new_event


def chat_state() -> dict[str, Any]:
    return {"stream_id": "stream-1", "messages": 0, SEEN: {}}


def fold_ids(state: dict[str, Any], count: int) -> None:
    for _ in range(count):
        event = new_event("livefold.chat.MessageDeleted", stream_id="stream-1", actor_id="user-1")
        remember(state, event)
        state["messages"] += 1


FORMAT = ChangelogFormat({"views": b"\x00\x00\x00\x00\x07", "windows": b"\x00\x00\x00\x00\x08"})


class Changelog:
    """What compaction keeps of the records written (as the workers frame them): the last
    value per key."""

    def __init__(self) -> None:
        self.view: bytes | None = None
        self.chunks: dict[str, Any] = {}
        self.bytes_written = 0

    def write(self, view: bytes, chunks: list[tuple[str, dict[str, Any] | None]]) -> None:
        self.view = FORMAT.view("views", view)
        self.bytes_written += len(self.view)
        for key, record in chunks:
            value = FORMAT.chunk("windows", record)
            if value is None:
                self.chunks.pop(key, None)
            else:
                self.chunks[key] = chunk_of(value)
                self.bytes_written += len(value)


def test_a_recovered_state_gets_back_the_same_window_in_the_same_order() -> None:
    records, changelog, state = StateRecords(), Changelog(), chat_state()
    for batch in [1, 5, 300, 2, 7000, 6000, 13, 9000, 1]:  # trims the window several times
        fold_ids(state, batch)
        changelog.write(*records.encode("stream-1", state))

        assert changelog.view is not None
        recovered = StateRecords().restored(
            "stream-1", state_of(changelog.view), changelog.chunks.get
        )
        assert list(recovered[SEEN]) == list(state[SEEN])
        assert {k: v for k, v in recovered.items() if k != SEEN} == {
            k: v for k, v in state.items() if k != SEEN
        }
    # Chunks the window no longer reaches were deleted.
    assert len(changelog.chunks) <= (DEDUPE_WINDOW + DEDUPE_WINDOW // 4) // CHUNK + 2


def test_writing_on_after_a_recovery_continues_the_same_chunks() -> None:
    records, changelog, state = StateRecords(), Changelog(), chat_state()
    fold_ids(state, 3000)
    changelog.write(*records.encode("stream-1", state))
    assert changelog.view is not None
    again = StateRecords()  # a new worker
    state = again.restored("stream-1", state_of(changelog.view), changelog.chunks.get)
    fold_ids(state, 12000)
    changelog.write(*again.encode("stream-1", state))

    recovered = StateRecords().restored("stream-1", state_of(changelog.view), changelog.chunks.get)
    assert list(recovered[SEEN]) == list(state[SEEN])


def test_a_small_batch_writes_a_small_part_of_a_full_window() -> None:
    records, changelog, state = StateRecords(), Changelog(), chat_state()
    fold_ids(state, 12000)
    changelog.write(*records.encode("stream-1", state))
    before = changelog.bytes_written

    fold_ids(state, 10)
    changelog.write(*records.encode("stream-1", state))

    whole = len(dumps(state))
    assert changelog.bytes_written - before < whole / 20, "the whole window was written again"


def test_a_state_changed_since_its_record_was_encoded_goes_back_to_it() -> None:
    """What a batch goes back to when a fold raises: the state as its last record holds it,
    window included, even when the window was trimmed into a new dict meanwhile."""
    records, state = StateRecords(), chat_state()
    fold_ids(state, DEDUPE_WINDOW + DEDUPE_WINDOW // 4 - 10)
    records.encode("stream-1", state)
    as_encoded = json.loads(json.dumps(state))
    rebuild = records.snapshot("stream-1", state)
    assert rebuild is not None
    fold_ids(state, 20)  # past the trim: the window is a new, shorter dict now
    state["pinned"] = "something"
    assert len(state[SEEN]) < len(as_encoded[SEEN])
    rebuilt = rebuild()
    assert rebuilt == as_encoded
    assert list(rebuilt[SEEN]) == list(as_encoded[SEEN])


def test_a_state_not_encoded_as_it_is_has_no_snapshot_from_its_record() -> None:
    records, state = StateRecords(), chat_state()
    assert records.snapshot("stream-1", state) is None
    records.encode("stream-1", state)
    assert records.snapshot("stream-1", dict(state)) is None  # another object: not that record


def test_a_window_chunk_written_after_the_view_a_worker_died_before_is_cut_back_to_it() -> None:
    """A batch's view and window chunks go to two changelogs: a worker killed between them may
    leave the chunk with ids the durable (earlier) view does not count. Recovered with them, the
    window would skip those events when their uncommitted records are read again: lost."""
    records, changelog, state = StateRecords(), Changelog(), chat_state()
    fold_ids(state, 10)
    changelog.write(*records.encode("stream-1", state))
    durable_view, counted = changelog.view, list(state[SEEN])
    fold_ids(state, 5)  # the next batch: its chunk reached Kafka, its view did not
    changelog.write(*records.encode("stream-1", state))
    assert durable_view is not None

    recovered = StateRecords().restored("stream-1", state_of(durable_view), changelog.chunks.get)
    assert recovered["messages"] == 10
    assert list(recovered[SEEN]) == counted


def batch_of(count: int) -> list[Event]:
    return [
        new_event("livefold.chat.MessageDeleted", stream_id="stream-1", actor_id="user-1")
        for _ in range(count)
    ]


def fold_events(state: dict[str, Any], events: list[Event]) -> None:
    """As a fold does: an event whose id the window holds changes nothing."""
    for event in events:
        if event.event_id not in state[SEEN]:
            remember(state, event)
            state["messages"] += 1


Staged = list[tuple[Stage, str | None, Any]]


def what_a_crash_leaves(batch: Staged) -> Iterator[tuple[int, Staged]]:
    """Each set of a batch's records a worker killed while sending them can leave in Kafka, with
    the stage it was sending (len(Stage): done): the stages before it were acknowledged, any
    part of it reached Kafka, nothing after it was sent."""
    for sending in range(len(Stage) + 1):
        before = [r for r in batch if r[0] < sending]
        unacknowledged = [r for r in batch if r[0] == sending]
        for size in range(len(unacknowledged) + 1):
            for part in combinations(unacknowledged, size):
                yield sending, before + list(part)


def test_no_crash_while_a_batch_is_written_folds_its_events_twice_or_loses_them() -> None:
    """A batch's view reaching Kafka without the window chunk holding its events' ids would come
    back counting those events without knowing their ids: read again (their offsets were not
    committed), they would be folded twice. The stages a batch is sent in (`staged`, sent by
    `agents.changelogs`) leave no such crash; the stream's window is full, so the batches also
    delete chunks."""
    records, changelog, state = StateRecords(), Changelog(), chat_state()
    fold_ids(state, DEDUPE_WINDOW + DEDUPE_WINDOW // 4 - 100)
    changelog.write(*records.encode("stream-1", state))  # committed
    durable = {None: changelog.view, **changelog.chunks}
    first, second = batch_of(150), batch_of(300)  # folded, not committed: both read again
    fold_events(state, first)
    in_flight = [staged(*records.encode("stream-1", state))]
    fold_events(state, second)
    in_flight.append(staged(*records.encode("stream-1", state)))

    crashes = 0
    for sending, left in what_a_crash_leaves(in_flight[0]):
        for sending_later, later in what_a_crash_leaves(in_flight[1]):
            if sending_later >= Stage.VIEW and sending < Stage.VIEW:
                continue  # a batch's views go out after those of the batch before it
            kept = dict(durable)  # compaction: the last record of each key
            for _, key, record in left + later:
                if key is None:
                    kept[None] = FORMAT.view("views", record)
                elif record is None:
                    kept.pop(key, None)
                else:
                    kept[key] = record
            view = kept.pop(None)
            assert isinstance(view, bytes)
            recovered = StateRecords().restored("stream-1", state_of(view), kept.get)
            fold_events(recovered, first + second)
            assert recovered["messages"] == state["messages"]
            assert list(recovered[SEEN]) == list(state[SEEN])
            crashes += 1
    assert crashes > 100


def test_moderation_leaves_its_history_index_out_of_the_view_and_rebuilds_it_alike() -> None:
    """The index of each user's history (as large as the histories) is not encoded every
    batch: the state recovered without it rebuilds it and judges the next messages alike."""
    platform = new_moderation_state(PLATFORM)
    state: Any = None
    for number in range(40):
        state, _ = moderation.fold(state, chat_message(number), platform)
    records, changelog = StateRecords(rebuilt=rebuilt_fields(moderation)), Changelog()
    changelog.write(*records.encode("stream-1", state))
    assert changelog.view is not None
    view = state_of(changelog.view)
    assert "_activity_index" not in view and view["_activity"] == state["_activity"]
    recovered = records.restored("stream-1", view, changelog.chunks.get)
    for number in range(40, 60):  # the same text again is a duplicate: the index's work
        message = chat_message(number, text=f"hello {number % 45}")
        recovered, judged_recovered = moderation.fold(recovered, message, platform)
        state, judged = moderation.fold(state, message, platform)
        assert judged_recovered == judged
    assert facts(recovered) == facts(state)
    assert recovered["_activity_index"] == state["_activity_index"]


def chat_message(number: int, text: str | None = None) -> Event:
    return new_event(
        "livefold.chat.MessageSent",
        stream_id="stream-1",
        actor_id=f"viewer-{number % 3}",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(milliseconds=number),
        event_id=f"00000000-0000-4000-8000-{number:012d}",
        message_id=f"m-{number}",
        text=text or f"hello {number}",
        reply_to=None,
    )
