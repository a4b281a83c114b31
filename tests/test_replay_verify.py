"""`livefold replay --verify` on a stack of its own (so that every live state and row is this
session's): after a realistic session folded and sunk live it finds no difference and exits 0;
a tampered ClickHouse row or a forged live state is listed and makes it exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from agents import service as folds
from agents.analytics import GROUP, lag
from agents.analytics_schema import drop_schema
from agents.app import changelog_topic
from agents.folds import source_topics
from agents.inspect import read_raw
from agents.state_records import ChangelogFormat, state_of
from infra.service import running
from infra.stack import infrastructure
from livefold.analytics_store import clickhouse_client
from livefold.folding import dumps
from livefold.settings import Settings
from streams.codec import Codec
from streams.producer import EventProducer, producer_config
from streams.provision import provision
from tests.analytics_support import Sink, wait_caught_up
from tests.servers import REPO, environment_of, log_to, settings_on_free_ports
from tests.test_replay import realistic_session


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    """A private stack with a session folded and sunk live; the workers keep running."""
    settings = settings_on_free_ports(tmp_path_factory.mktemp("verify"))
    logs = log_to(settings.data_dir / "logs")
    with running(infrastructure(settings), output=logs):
        provision(settings)
        run = f"verify{uuid.uuid4().hex[:6]}"
        with running([folds.service(settings)], output=logs):
            sink = Sink(settings)
            sink.start()
            producer = EventProducer(settings, Codec.from_settings(settings))
            try:
                producer.append_all(realistic_session(run))
                while lag(settings, settings.fold_group, source_topics()) or lag(settings, GROUP):
                    wait_caught_up(settings, settings.fold_group, 120, source_topics())
                    wait_caught_up(settings, GROUP)
                yield settings, run
            finally:
                producer.close()
                sink.stop()


def verify(settings: Settings, prefix: str) -> tuple[int, dict[str, Any], str]:
    command = [sys.executable, "-m", "livefold", "replay", "--verify", "--json"]
    done = subprocess.run(
        [*command, "--clickhouse-prefix", prefix],
        cwd=REPO,
        env=environment_of(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    client = clickhouse_client(settings)
    try:
        drop_schema(client, settings.clickhouse_database, prefix)
    finally:
        client.close()
    assert done.stdout, done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)["verify"], done.stderr


def test_verify_finds_live_equal_to_the_replay_and_exits_0(live: tuple[Settings, str]) -> None:
    settings, _ = live
    code, checked, errors = verify(settings, "verify_clean_")
    assert (code, checked["differences"]) == (0, []), (
        "\n".join(checked["differences"]) + errors[-2000:]
    )
    assert checked["live_digests"] == checked["replay_digests"]
    assert {"stream", "chat", "polls", "quiz", "tips", "audience", "moderation"} <= checked[
        "live_digests"
    ].keys()
    assert checked["live_tables"] == checked["replay_tables"]
    assert checked["live_tables"]["chat_messages"]["rows"] > 1000


def test_a_tampered_clickhouse_row_is_a_difference_and_exits_1(live: tuple[Settings, str]) -> None:
    settings, run = live
    client = clickhouse_client(settings)
    event_id, text = client.query(
        "SELECT event_id, text FROM chat_messages WHERE startsWith(stream_id, {run:String})"
        " ORDER BY event_id LIMIT 1",
        parameters={"run": run},
    ).result_rows[0]

    def set_text(new: str) -> None:
        client.command(
            "ALTER TABLE chat_messages UPDATE text = {new:String} WHERE event_id = {id:String}"
            " SETTINGS mutations_sync = 2",
            parameters={"new": new, "id": event_id},
        )

    try:
        set_text("tampered")
        code, checked, _ = verify(settings, "verify_tampered_")
    finally:
        set_text(text)  # as it was, for the other tests
        client.close()
    assert code == 1
    (difference,) = checked["differences"]
    assert difference.startswith("ClickHouse chat_messages.fingerprint: live ")


def test_a_forged_state_is_listed_with_its_fields_and_exits_1(
    live: tuple[Settings, str],
) -> None:
    settings, run = live
    stream_id = f"{run}-stream1"
    (record,) = [
        message.value() or b""
        for message in read_raw(settings, changelog_partitions(settings, "stream"))
        if message.key() == stream_id.encode()
    ][-1:]
    forged = {**state_of(record), "title": "forged"}
    topic = changelog_topic(settings, "stream")
    as_written = ChangelogFormat({topic: record[:5]})  # the worker's schema id
    producer = Producer(producer_config(settings))
    producer.produce(topic, key=stream_id, value=as_written.view(topic, dumps(forged)))
    assert producer.flush(10) == 0
    code, checked, _ = verify(settings, "verify_forged_")
    assert code == 1
    assert checked["live_digests"]["stream"] != checked["replay_digests"]["stream"]
    (listed,) = checked["differences"]
    assert listed.startswith(f'stream {stream_id}: title: live "forged", replay ')


def changelog_partitions(settings: Settings, table: str) -> list[tuple[str, int]]:
    topic = changelog_topic(settings, table)
    return [(topic, number) for number in range(settings.topic_partitions)]
