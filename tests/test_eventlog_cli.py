"""`livefold events tail|export|import|stats` as a person runs them, against the real stack."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import fastavro
import pytest

from livefold.settings import Settings
from streams.codec import Codec
from streams.eventlog import read_events_file, write_json_lines
from streams.events import Event, new_event
from streams.producer import EventProducer
from tests.servers import environment_of

START = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)


def livefold(stack: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livefold", *args],
        env=environment_of(stack),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def session(stream_id: str) -> list[Event]:
    """A short stream: created, a poll with three votes, two chat lines and a reaction burst."""
    at = [START + timedelta(seconds=n) for n in range(10)]
    options = [{"option_id": "a", "text": "yes"}, {"option_id": "b", "text": "no"}]
    return [
        new_event(
            "livefold.stream.Created",
            stream_id=stream_id,
            actor_id="streamer",
            occurred_at=at[0],
            title="Speedrun",
            category="Games",
            tags=["any%"],
            scheduled_start=None,
            language="en",
        ),
        new_event(
            "livefold.polls.PollCreated",
            stream_id=stream_id,
            actor_id="streamer",
            occurred_at=at[1],
            poll_id="p1",
            question="Reset?",
            options=options,
            multi_select=False,
            allow_vote_change=True,
            duration_seconds=60,
        ),
        *(
            new_event(
                "livefold.polls.VoteCast",
                stream_id=stream_id,
                actor_id=f"viewer-{n}",
                occurred_at=at[2 + n],
                poll_id="p1",
                option_ids=["a"],
            )
            for n in range(3)
        ),
        *(
            new_event(
                "livefold.chat.MessageSent",
                stream_id=stream_id,
                actor_id="viewer-1",
                occurred_at=at[6 + n],
                message_id=f"m{n}",
                text=f"gg {n}",
                reply_to=None,
                emotes=[],
                badges=[],
            )
            for n in range(2)
        ),
        new_event(
            "livefold.reactions.ReactionSent",
            stream_id=stream_id,
            actor_id="viewer-2",
            occurred_at=at[9],
            kind="fire",
            count=25,
        ),
    ]


@pytest.fixture(scope="module")
def recorded(stack: Settings) -> tuple[str, list[Event]]:
    stream_id = f"stream-{uuid.uuid4()}"
    events = session(stream_id)
    producer = EventProducer(stack, Codec.from_settings(stack))
    producer.append_all(events)
    producer.close()
    return stream_id, events


def test_stats_counts_a_streams_events_per_topic_and_type(stack, recorded):
    stream_id, _ = recorded
    result = livefold(stack, "events", "stats", "--stream", stream_id)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["livefold.polls.v1"] == {"PollCreated": 1, "VoteCast": 3}
    assert counts["livefold.chat.v1"] == {"MessageSent": 2}
    assert counts["livefold.stream.v1"] == {"Created": 1}
    assert counts["livefold.reactions.v1"] == {"ReactionSent": 1}


def test_tail_from_the_beginning_prints_decoded_json_lines(stack, recorded):
    stream_id, events = recorded
    result = livefold(
        stack,
        "events",
        "tail",
        "--from-beginning",
        "--stream",
        stream_id,
        "--topic",
        "livefold.polls.v1",
        "--type",
        "VoteCast",
        "--max",
        "3",
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    votes = [e for e in events if e.type == "livefold.polls.VoteCast"]
    assert [line["body"] for line in lines] == [vote.body for vote in votes]
    assert all(line["topic"] == "livefold.polls.v1" and line["offset"] >= 0 for line in lines)


@pytest.mark.parametrize("fmt", ["avro", "jsonl"])
def test_export_writes_exactly_the_streams_events_in_a_time_range(stack, recorded, tmp_path, fmt):
    stream_id, events = recorded
    out = tmp_path / f"export.{fmt}"
    since, until = (
        (START + timedelta(seconds=2)).isoformat(),
        (START + timedelta(seconds=8)).isoformat(),
    )
    result = livefold(
        stack,
        "events",
        "export",
        str(out),
        "--format",
        fmt,
        "--stream",
        stream_id,
        "--since",
        since,
        "--until",
        until,
    )
    assert result.returncode == 0, result.stderr
    exported = sorted(read_events_file(out), key=lambda e: e.occurred_at_ms)
    in_range = [e for e in events if since <= e.occurred_at.isoformat() < until]
    assert [e.name for e in in_range] == ["VoteCast"] * 3 + ["MessageSent"] * 2
    assert exported == in_range


def test_import_appends_only_events_the_log_lacks(stack, recorded, tmp_path):
    _, events = recorded
    extra = session(f"stream-{uuid.uuid4()}")
    file = tmp_path / "mixed.jsonl"
    with file.open("w") as sink:
        write_json_lines([*events[:4], *extra], sink)

    first = livefold(stack, "events", "import", str(file))
    assert first.returncode == 0, first.stderr
    assert f"imported {len(extra)} events, skipped 4" in first.stdout
    again = livefold(stack, "events", "import", str(file))
    assert f"imported 0 events, skipped {4 + len(extra)}" in again.stdout

    counts = json.loads(livefold(stack, "events", "stats", "--stream", extra[0].stream_id).stdout)
    assert counts["livefold.polls.v1"] == {"PollCreated": 1, "VoteCast": 3}


def test_an_avro_export_keeps_logical_types_and_each_events_place_in_the_log(
    stack, recorded, tmp_path
):
    stream_id, events = recorded
    out = tmp_path / "export.avro"
    result = livefold(stack, "events", "export", str(out), "--stream", stream_id)
    assert result.returncode == 0, result.stderr
    with out.open("rb") as stream:
        reader = fastavro.reader(stream, return_record_name=True)
        logged = reader.writer_schema
        entries = list(reader)
    assert logged["name"] == "livefold.export.LoggedEvent"
    created = next(e for e in entries if e["event"][0] == "livefold.stream.Created")
    assert isinstance(created["event"][1]["event_id"], uuid.UUID)
    assert created["event"][1]["occurred_at"] == START  # timestamp-millis, as a datetime
    lines = livefold(stack, "events", "tail", "--from-beginning", "--stream", stream_id,
                     "--max", str(len(events))).stdout.splitlines()  # fmt: skip
    tailed = {json.loads(line)["body"]["event_id"]: json.loads(line) for line in lines}
    for entry in entries:
        position = tailed[str(entry["event"][1]["event_id"])]
        assert (entry["topic"], entry["partition"], entry["offset"]) == (
            position["topic"],
            position["partition"],
            position["offset"],
        )
    assert sorted(read_events_file(out), key=lambda e: e.occurred_at_ms) == events


def test_import_keeps_only_what_its_filters_let_through(stack, tmp_path):
    events = session(f"stream-{uuid.uuid4()}")
    other = session(f"stream-{uuid.uuid4()}")
    file = tmp_path / "two-streams.jsonl"
    with file.open("w") as sink:
        write_json_lines([*events, *other], sink)
    since = (START + timedelta(seconds=3)).isoformat()
    result = livefold(stack, "events", "import", str(file), "--stream", events[0].stream_id,
                      "--type", "VoteCast", "--since", since)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "imported 2 events, skipped 0" in result.stdout  # the votes at 3 s and 4 s
    counts = json.loads(livefold(stack, "events", "stats", "--stream", events[0].stream_id).stdout)
    assert counts["livefold.polls.v1"] == {"VoteCast": 2}
    assert counts["livefold.chat.v1"] == {}
    only_chat = livefold(stack, "events", "import", str(file), "--topic", "livefold.chat.v1")
    assert "imported 4 events, skipped 0" in only_chat.stdout  # two lines in each stream


def test_bad_input_gets_a_message_not_a_traceback(stack, tmp_path):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"type": "livefold.chat.MessageSent"}\n')
    result = livefold(stack, "events", "import", str(garbage))
    assert result.returncode == 2
    assert "garbage.jsonl:1: not a livefold event line" in result.stderr
    assert "Traceback" not in result.stderr
    unknown = livefold(stack, "events", "stats", "--topic", "livefold.nope.v1")
    assert unknown.returncode == 2 and "unknown topic" in unknown.stderr
