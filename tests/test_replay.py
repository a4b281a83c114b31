"""`livefold replay` rebuilds from the log exactly what was folded and written live: a realistic
session (several streams; chat with blocked messages, reaction bursts, polls with re-votes and
late votes, late and repeated quiz answers, tips captured twice and refunded, viewers coming
and going, and events appended twice) is produced, sunk live, then replayed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from agents import service as folds
from agents.analytics import GROUP, lag
from agents.analytics_schema import drop_schema, summary
from agents.driver import merged
from agents.folds import source_topics
from agents.inspect import live_states
from agents.replay import ReplayResult, replay
from agents.replay_output import publish_state
from bench.sessions import generate
from infra.service import running
from infra.stack import infrastructure
from livefold import polls
from livefold.analytics_store import clickhouse_client
from livefold.domains import DOMAINS
from livefold.folding import digest, fold_all
from livefold.moderation import fold as moderation
from livefold.settings import Settings
from streams.catalog import catalog
from streams.codec import Codec
from streams.consumer import Record
from streams.events import Event
from streams.producer import Ack, EventProducer
from streams.provision import provision
from streams.state import from_record
from tests.analytics_support import Sink, wait_caught_up
from tests.servers import REPO, environment_of, log_to, settings_on_free_ports

Tables = dict[str, dict[str, Any]]


def relabelled(events: list[Event], run: str) -> list[Event]:
    """The session under stream ids and event ids of this run only (a copy keeps its copy's id)."""
    ids: dict[str, str] = {}
    out = []
    for event in events:
        fresh = str(uuid.uuid5(uuid.NAMESPACE_URL, run + event.event_id))
        new_id = ids.setdefault(event.event_id, fresh)
        out.append(
            Event(
                event.type,
                {**event.body, "event_id": new_id, "stream_id": f"{run}-{event.stream_id}"},
            )
        )
    return out


def mine(tables: Tables, run: str) -> Tables:
    """Only the states of this run's streams."""
    return {
        name: {key: state for key, state in states.items() if key.startswith(run)}
        for name, states in tables.items()
    }


TOXIC = "kys, nobody wants you here"  # blocked by moderation whatever the stream's state


def realistic_session(run: str) -> list[Event]:
    """Three streams for four minutes, moderated live: moderation decides every verdict and
    blocks the toxic messages. Chat mode changes are left out: one that races a message
    across topics may be judged differently live and in replay (see docs/replay.md)."""
    events = []
    for event in generate(seed=7, streams=3, seconds=240, duplicates=0.02, verdicts=False):
        if event.name == "ChatModeChanged":
            continue
        if event.name == "MessageSent" and int(event.event_id[:8], 16) % 40 == 0:
            event = Event(event.type, {**event.body, "text": TOXIC})
        events.append(event)
    return relabelled(events, run)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """This module's own stack: replay is compared with what the live worker and sink made of
    the whole log, so no other test's records, groups or leftovers may be in it. (On the shared
    stack, after the rest of the suite, the live `events` table lacked ~60 events the log holds
    while the sink's group had committed past them: still to be explained, see the note of
    2026-12-07.)"""
    settings = settings_on_free_ports(tmp_path_factory.mktemp("replay-stack"))
    with running(infrastructure(settings), output=log_to(settings.data_dir / "logs")):
        provision(settings)
        yield settings


@pytest.fixture(scope="module")
def session(stack: Settings) -> Iterator[tuple[str, list[Event], list[Ack]]]:
    """A session folded and sunk live: (run id, events in append order, their acks)."""
    run = f"replay{uuid.uuid4().hex[:6]}"
    events = realistic_session(run)
    logs = log_to(stack.data_dir / "logs")
    worker = folds.service(stack)
    with running([worker], output=logs):
        sink = Sink(stack)
        sink.start()
        producer = EventProducer(stack, Codec.from_settings(stack))
        try:
            acks = producer.append_all(events)
            # The workers append verdicts, which the sink must store too.
            # The fold group reads only the topics some fold takes; others tests write to the rest.
            folded = source_topics()
            while lag(stack, stack.fold_group, folded) or lag(stack, GROUP):
                wait_caught_up(stack, stack.fold_group, timeout=120, topics=folded)
                wait_caught_up(stack, GROUP)
            yield run, events, acks
        finally:
            producer.close()
            sink.stop()


def log_ends(settings: Settings) -> dict[tuple[str, int], int]:
    """Every event topic partition's end offset now."""
    probe = Consumer({**settings.kafka_config(), "group.id": f"ends-{uuid.uuid4().hex}"})
    try:
        metadata = probe.list_topics(timeout=10)
        return {
            (topic, number): probe.get_watermark_offsets(TopicPartition(topic, number), 10)[1]
            for topic in catalog().topics()
            for number in metadata.topics[topic].partitions
        }
    finally:
        probe.close()


def live_figures(settings: Settings) -> dict[str, dict[str, int]]:
    client = clickhouse_client(settings)
    try:
        return summary(client, settings.clickhouse_database)
    finally:
        client.close()


def drop_replayed(settings: Settings, result: ReplayResult) -> None:
    client = clickhouse_client(settings)
    assert result.clickhouse_prefix is not None
    drop_schema(client, settings.clickhouse_database, result.clickhouse_prefix)
    client.close()


@pytest.fixture(scope="module")
def quiet_replay(
    stack: Settings, session: Any
) -> Iterator[tuple[ReplayResult, dict[str, dict[str, int]]]]:
    """The replay and the live sink's figures at one position of the log: the sink's taken once
    it has written everything, the replay reading to the same ends. Whatever else appends to the
    shared stack meanwhile (another test's leftovers) moves the ends: then both are taken again,
    and a log that never holds still fails, naming the topics that grew."""
    grew: list[tuple[str, int]] = []
    for _ in range(3):
        before = log_ends(stack)
        wait_caught_up(stack, GROUP)
        live = live_figures(stack)
        result = replay(stack)
        after = log_ends(stack)
        if after == before:
            break
        grew = sorted(p for p in after if after[p] != before.get(p))
        drop_replayed(stack, result)
    else:
        pytest.fail(f"the log kept growing while replaying: {grew}")
    yield result, live
    drop_replayed(stack, result)


@pytest.fixture(scope="module")
def replayed(quiet_replay: tuple[ReplayResult, dict[str, dict[str, int]]]) -> ReplayResult:
    return quiet_replay[0]


def test_the_session_is_realistic(
    stack: Settings, session: tuple[str, list[Event], list[Ack]]
) -> None:
    run, events, _ = session
    names = {event.name for event in events}
    assert len(events) > 5_000 and len({event.stream_id for event in events}) == 3
    assert len(events) - len({event.event_id for event in events}) > 50  # appended twice
    assert {
        "MessageSent",
        "ReactionSent",
        "VoteCast",
        "PollClosed",
        "QuizAnswerSubmitted",
        "QuizAnswerRevealed",
        "TipCaptured",
        "TipRefunded",
        "TipFailed",
        "ViewerLeft",
    } <= names
    client = clickhouse_client(stack)
    try:
        decided = client.query(
            "SELECT verdict, count() FROM chat_verdicts FINAL"
            " WHERE startsWith(stream_id, {run:String}) GROUP BY verdict",
            parameters={"run": run},
        ).result_rows
    finally:
        client.close()
    verdicts = dict(decided)
    toxic = sum(1 for event in events if event.body.get("text") == TOXIC)
    assert verdicts.get("block", 0) >= toxic > 10 and verdicts["allow"] > 1000


def test_replay_gives_the_states_the_live_workers_hold(
    stack: Settings, session: tuple[str, list[Event], list[Ack]], replayed: ReplayResult
) -> None:
    run, _, _ = session
    live = mine(live_states(stack), run)
    again = mine(replayed.tables, run)
    for name in again:
        assert len(live[name]) == len(again[name]) > 0, name
        assert digest({name: live[name]}) == digest({name: again[name]}), name
    mine_only = [
        e
        for e in replayed.verdicts.differing + replayed.verdicts.missing
        if e.stream_id.startswith(run)
    ]
    assert mine_only == []


def test_replay_rebuilds_the_analytics_tables_the_live_sink_wrote(
    quiet_replay: tuple[ReplayResult, dict[str, dict[str, int]]],
) -> None:
    replayed, live = quiet_replay
    assert replayed.clickhouse == live
    assert live["events"]["rows"] == live["events"]["event_ids"] < replayed.events  # once each


def test_replay_folds_the_session_as_the_pure_folds_do(
    session: tuple[str, list[Event], list[Ack]], replayed: ReplayResult
) -> None:
    run, events, acks = session
    partitions: dict[tuple[str, int], list[Record]] = {}
    for event, ack in sorted(zip(events, acks, strict=True), key=lambda pair: pair[1].offset):
        if event.type in moderation.HANDLES:
            position = (ack.topic, ack.partition)
            partitions.setdefault(position, []).append(Record(event, *position, ack.offset))
    states: dict[str, Any] = {}
    verdicts: list[Event] = []
    for record in merged(partitions):
        key = moderation.key_of(record.event)
        states[key], outputs = moderation.fold(states.get(key), record.event)
        verdicts += [output for output in outputs if isinstance(output, Event)]
    # Chat gives the same state whenever a verdict comes: here, after every message.
    expected = {name: fold_all(domain, events + verdicts)[0] for name, domain in DOMAINS.items()}
    expected[moderation.CHANNEL] = states
    assert digest(mine(replayed.tables, run)) == digest(expected)


def test_the_replay_command_prints_the_same_digests_again(
    stack: Settings, session: Any, replayed: ReplayResult
) -> None:
    prefix = f"replay_cli_{uuid.uuid4().hex[:6]}_"
    command = [sys.executable, "-m", "livefold", "replay", "--json", "--clickhouse-prefix", prefix]
    done = subprocess.run(
        command, cwd=REPO, env=environment_of(stack), capture_output=True, text=True, timeout=300
    )
    client = clickhouse_client(stack)
    try:
        assert done.returncode == 0, done.stderr[-2000:]
        again = json.loads(done.stdout)
        assert again["digests"] == replayed.digests and again["digest"] == replayed.digest
        assert again["clickhouse"] == replayed.clickhouse
        assert again["clickhouse_prefix"] == prefix
    finally:
        drop_schema(client, stack.clickhouse_database, prefix)
        client.close()


@pytest.mark.parametrize("taken", [True, False], ids=["existing tables", "not a name"])
def test_replay_refuses_a_prefix_that_is_taken_or_not_a_name(
    stack: Settings, replayed: ReplayResult, taken: bool
) -> None:
    prefix = str(replayed.clickhouse_prefix) if taken else "replay-1;"
    command = [sys.executable, "-m", "livefold", "replay", "--clickhouse-prefix", prefix]
    done = subprocess.run(
        command, cwd=REPO, env=environment_of(stack), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert ("exist" if taken else "letters, digits and underscores") in done.stderr
    assert "Traceback" not in done.stderr


def latest_records(settings: Settings, topic: str) -> dict[str, bytes]:
    """key -> last value on a topic, as compaction keeps it."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        latest: dict[str, bytes] = {}
        unfinished = set(partitions)
        while unfinished:
            for message in consumer.consume(500, 1.0):
                error = message.error()
                if error is not None:
                    unfinished.discard(message.partition())
                    continue
                latest[message.key().decode()] = message.value()
        return latest
    finally:
        consumer.close()


def test_replay_publishes_the_final_state_to_fresh_state_topics(
    stack: Settings, session: tuple[str, list[Event], list[Ack]], replayed: ReplayResult
) -> None:
    run, _, _ = session
    name = f"replay-{uuid.uuid4().hex[:6]}"
    counts = publish_state(stack, replayed, name)
    topic = f"livefold.{name}.state.polls.v1"
    assert counts[topic] > 0
    published = {key: from_record(value) for key, value in latest_records(stack, topic).items()}
    mine_polls = mine(replayed.tables, run)["polls"]
    assert len(mine_polls) >= 3
    for key, state in mine_polls.items():
        assert published[key].value == polls.view(state)
        assert published[key].value["status"] == "closed"  # their deadlines are long past
