"""`livefold run` under a steady workload (chat, votes, tips through the gateway) while each
part of the stack is killed with SIGKILL in turn; the supervisor starts it again. After each:
every acknowledged event is in the log exactly once (also when its request went unanswered and
was sent again, to the same gateway or to the restarted one), the live fold states equal a
replay's, and ClickHouse holds each logged event once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from agents import analytics
from agents.folds import source_topics
from agents.inspect import caught_up, live_states
from agents.replay import replay
from infra.stack import ephemeral_settings
from livefold.analytics_store import clickhouse_client
from livefold.folding import digest
from livefold.settings import Settings
from streams.catalog import catalog
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.producer import EventProducer
from tests.servers import environment_of
from tests.workload import ChatWatcher, Workload

# In the order they are killed: livefold's own processes, then the servers behind them.
PARTS = ["folds", "analytics", "gateway", "registry", "clickhouse", "s3proxy", "kafka"]


class Supervised:
    """A `livefold run` whose output is collected line by line."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livefold", "run"],
            env=environment_of(settings),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, after: int = 0, timeout: float = 180) -> int:
        """The index of the first line from `after` on that contains `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(after, len(self.lines)):
                if text in self.lines[index]:
                    return index
            assert self.process.poll() is None, "\n".join(self.lines[-40:])
            time.sleep(0.2)
        raise AssertionError(f"never saw {text!r}:\n" + "\n".join(self.lines[-40:]))

    def pid(self, name: str) -> int:
        return int((self.settings.data_dir / name / f"{name}.pid").read_text())


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervised]:
    settings = ephemeral_settings(tmp_path_factory.mktemp("faults") / "data", topic_partitions=2)
    run = Supervised(settings)
    try:
        run.wait_for("Ctrl-C or `make stop` stops everything.")
        yield run
    finally:
        run.process.terminate()
        run.process.wait(120)


@pytest.fixture(scope="module")
def workload(supervised: Supervised) -> Iterator[Workload]:
    settings = supervised.settings
    load = Workload(settings, f"http://{settings.host}:{settings.gateway_port}")
    load.start()
    try:
        yield load
    finally:
        load.stop()


@pytest.fixture(scope="module")
def watcher(supervised: Supervised, workload: Workload) -> Iterator[ChatWatcher]:
    settings = supervised.settings
    viewer = ChatWatcher(f"http://{settings.host}:{settings.gateway_port}", workload.stream_id)
    viewer.start()
    try:
        yield viewer
    finally:
        viewer.stop()


@pytest.mark.parametrize("part", PARTS)
def test_a_killed_part_comes_back_and_nothing_is_lost_or_doubled(
    part: str, supervised: Supervised, workload: Workload, watcher: ChatWatcher
) -> None:
    before = len(workload.acked)
    mark = len(supervised.lines)
    killed = time.monotonic()
    os.killpg(supervised.pid(part), signal.SIGKILL)
    supervised.wait_for(f"livefold: {part} was killed by SIGKILL; restarting it", mark)
    supervised.wait_for(f"livefold: {part} is back", mark)
    back = time.monotonic() - killed
    deadline = time.monotonic() + 120
    while len(workload.acked) < before + 60:  # the workload goes on through the restart
        assert time.monotonic() < deadline, f"the workload stalled: {workload.errors}"
        time.sleep(0.2)
    with workload.paused():
        logged, twice, allowed = check(supervised.settings, workload)
        deadline = time.monotonic() + 30  # the viewer's socket shows every allowed message
        while missing := allowed - watcher.seen.keys():
            assert time.monotonic() < deadline, f"{len(missing)} messages never reached the viewer"
            time.sleep(0.2)
    kinds = Counter(workload.acked.values())
    print(  # the counts behind the verdict (pytest -s shows them)
        f"\n{part}: back in {back:.1f} s; {len(workload.acked)} acknowledged {dict(kinds)}, "
        f"{len(workload.retried)} sent again, {twice} twice in the log, {logged} logged events; "
        f"the viewer saw {len(watcher.seen)} messages, {watcher.reconnects} reconnects"
    )
    assert workload.errors == []
    assert supervised.process.poll() is None


def check(settings: Settings, workload: Workload) -> tuple[int, int, set[str]]:
    """Assert the invariants; the number of distinct events in the log, of those twice, and
    the ids of the chat messages moderation allowed. The viewer's socket still appends presence
    events while the workload waits: a look at the log during which it grew is taken again."""
    for _ in range(5):
        before = log_ends(settings)
        wait_folded(settings)
        logged, allowed = read_log(settings)
        again = replay(settings, clickhouse=False)
        live = live_states(settings)
        rows, ids = clickhouse_events(settings)
        if log_ends(settings) == before:
            break
    assert [i for i in workload.acked if i not in logged] == []
    twice = {event_id for event_id, count in logged.items() if count > 1}
    resent = len(workload.retried)
    assert twice == set(), f"{len(twice)} events in the log more than once ({resent} resent)"
    assert {name: digest({name: live[name]}) for name in again.tables} == again.digests
    assert again.failures == []
    assert rows == ids == len(logged)
    return len(logged), len(twice), allowed


def log_ends(settings: Settings) -> dict[tuple[str, int], int]:
    """Records on each event partition: grows with every append."""
    return analytics.lag(settings, f"faults-probe-{uuid.uuid4().hex}")


def read_log(settings: Settings) -> tuple[Counter[str], set[str]]:
    """How often each event id is in the log, and the chat messages moderation allowed."""
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    logged: Counter[str] = Counter()
    allowed: set[str] = set()
    try:
        for record in read_to_end(settings, codec, catalog().topics(), deadletter):
            logged[record.event.event_id] += 1
            body = record.event.body
            if record.event.name == "VerdictIssued" and body["verdict"] == "allow":
                allowed.add(body["message_id"])
    finally:
        deadletter.close()
    return logged, allowed


def clickhouse_events(settings: Settings) -> tuple[int, int]:
    """Rows of the events table, and distinct event ids among them."""
    client = clickhouse_client(settings, in_database=False)
    try:
        table = f"{settings.clickhouse_database}.events"
        rows, ids = client.query(f"SELECT count(), uniqExact(event_id) FROM {table}").result_rows[0]
        return int(rows), int(ids)
    finally:
        client.close()


def wait_folded(settings: Settings, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not caught_up(settings, source_topics()) or analytics.lag(settings):
        assert time.monotonic() < deadline, "the fold workers or the sink did not catch up"
        time.sleep(0.3)
