"""The analytics store as livefold runs it: ClickHouse 26 from chdb-core, reached through
clickhouse-connect over its real HTTP interface."""

from __future__ import annotations

import random
import socket
import stat
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from clickhouse_connect.driver import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from infra import clickhouse
from infra.errors import InfraError
from infra.service import RunningService, running
from livefold.analytics_store import clickhouse_client, connect
from livefold.install_secrets import keys_dir
from livefold.settings import Settings
from tests.servers import log_to

STREAMS = 40
TIP_COLUMNS = ["stream_id", "viewer", "amount_cents", "at"]


@pytest.fixture
def analytics(stack: Settings) -> Settings:
    """The session's stack; tests that stop ClickHouse start their own (`scratch`)."""
    return stack


@pytest.fixture
def client(analytics: Settings) -> Iterator[Client]:
    client = clickhouse_client(analytics)
    yield client
    client.close()


def unique_table(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def tips(count: int, seed: int) -> list[tuple[int, str, int, datetime]]:
    """(stream_id, viewer, amount_cents, at) rows, reproducible from the seed."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    return [
        (
            rng.randrange(STREAMS),
            f"viewer-{rng.randrange(5_000)}",
            rng.randrange(1, 100_000),
            start + timedelta(seconds=i),
        )
        for i in range(count)
    ]


def create_tips_table(client: Client, table: str) -> None:
    client.command(
        f"CREATE TABLE {table} (stream_id UInt32, viewer String, amount_cents UInt64, "
        "at DateTime) ENGINE = MergeTree ORDER BY (stream_id, at)"
    )


def test_the_configured_database_is_created_and_used(analytics: Settings, client: Client) -> None:
    assert client.command("SELECT currentDatabase()") == analytics.clickhouse_database
    assert (client.server_version or "").startswith("26.")


def test_a_hundred_thousand_rows_aggregate_to_the_totals_computed_in_python(
    client: Client,
) -> None:
    table = unique_table("tips")
    create_tips_table(client, table)
    rows = tips(100_000, seed=1)

    client.insert(table, rows, column_names=TIP_COLUMNS)

    expected_counts = Counter(stream for stream, _, _, _ in rows)
    expected_sums: defaultdict[int, int] = defaultdict(int)
    for stream, _, amount, _ in rows:
        expected_sums[stream] += amount
    result = client.query(
        f"SELECT stream_id, count(), sum(amount_cents) FROM {table} "
        "GROUP BY stream_id ORDER BY stream_id"
    ).result_rows
    assert result == [
        (stream, expected_counts[stream], expected_sums[stream]) for stream in sorted(expected_sums)
    ]
    totals = client.query(f"SELECT count(), sum(amount_cents), uniqExact(viewer) FROM {table}")
    assert totals.first_row == (
        len(rows),
        sum(amount for _, _, amount, _ in rows),
        len({viewer for _, viewer, _, _ in rows}),
    )


def test_replacing_merge_tree_with_final_keeps_only_the_latest_version_of_each_row(
    client: Client,
) -> None:
    table = unique_table("poll_tallies")
    client.command(
        f"CREATE TABLE {table} (poll_id String, votes UInt64, version UInt64) "
        "ENGINE = ReplacingMergeTree(version) ORDER BY poll_id"
    )
    latest: dict[str, tuple[int, int]] = {}
    rng = random.Random(2)
    # Separate inserts make separate parts, so duplicates exist until a merge or FINAL.
    for version in range(1, 6):
        batch = [(f"poll-{p}", rng.randrange(1_000), version) for p in range(50)]
        rng.shuffle(batch)
        client.insert(table, batch, column_names=["poll_id", "votes", "version"])
        latest.update({poll: (votes, v) for poll, votes, v in batch})
    # A late, lower version must not win over the newer one.
    client.insert(table, [("poll-0", 999_999, 3)], column_names=["poll_id", "votes", "version"])

    deduped = client.query(f"SELECT poll_id, votes, version FROM {table} FINAL ORDER BY poll_id")

    assert {poll: (votes, v) for poll, votes, v in deduped.result_rows} == latest
    assert deduped.row_count == 50
    client.command(f"OPTIMIZE TABLE {table} FINAL")
    assert client.command(f"SELECT count() FROM {table}") == 50


def test_a_materialized_view_folds_every_later_insert_into_per_stream_totals(
    client: Client,
) -> None:
    source, totals = unique_table("tips"), unique_table("tip_totals")
    create_tips_table(client, source)
    before_the_view = tips(1_000, seed=3)
    client.insert(source, before_the_view, column_names=TIP_COLUMNS)
    client.command(
        f"CREATE TABLE {totals} (stream_id UInt32, tips AggregateFunction(count), "
        "cents AggregateFunction(sum, UInt64), viewers AggregateFunction(uniqExact, String)) "
        "ENGINE = AggregatingMergeTree ORDER BY stream_id"
    )
    client.command(
        f"CREATE MATERIALIZED VIEW {totals}_mv TO {totals} AS SELECT stream_id, "
        "countState() AS tips, sumState(amount_cents) AS cents, uniqExactState(viewer) AS viewers "
        f"FROM {source} GROUP BY stream_id"
    )
    after = tips(20_000, seed=4)
    for start in range(0, len(after), 5_000):
        batch = after[start : start + 5_000]
        client.insert(source, batch, column_names=TIP_COLUMNS)

    folded = client.query(
        f"SELECT stream_id, countMerge(tips), sumMerge(cents), uniqExactMerge(viewers) "
        f"FROM {totals} GROUP BY stream_id ORDER BY stream_id"
    ).result_rows

    # A view sees only inserts made after it exists: the first thousand rows are not in it.
    expected: dict[int, tuple[int, int, set[str]]] = {}
    for stream, viewer, amount, _ in after:
        count, cents, viewers = expected.get(stream, (0, 0, set()))
        expected[stream] = (count + 1, cents + amount, viewers | {viewer})
    assert folded == [
        (stream, count, cents, len(viewers))
        for stream, (count, cents, viewers) in sorted(expected.items())
    ]


def test_data_survives_a_restart_of_the_clickhouse_process(scratch: Settings) -> None:
    table = unique_table("tips")
    rows = tips(10_000, seed=5)
    logs = log_to(scratch.data_dir / "logs")
    with running([clickhouse.service(scratch)], output=logs) as (server,):
        client = clickhouse_client(scratch)
        create_tips_table(client, table)
        client.insert(table, rows, column_names=TIP_COLUMNS)
        # The client stays connected while the server stops: the stop must still be clean.
        started_stop = time.monotonic()
        server.stop()
        assert server.process is not None and server.process.returncode == 0
        assert time.monotonic() - started_stop < 5.0

    with running([clickhouse.service(scratch)], output=logs):
        client = clickhouse_client(scratch)
        assert client.query(f"SELECT count(), sum(amount_cents) FROM {table}").first_row == (
            len(rows),
            sum(amount for _, _, amount, _ in rows),
        )
        client.close()


def test_a_busy_port_is_an_error_naming_the_port_setting(scratch: Settings) -> None:
    with socket.socket() as holder:
        holder.bind((scratch.host, scratch.clickhouse_port))
        holder.listen()
        with pytest.raises(InfraError, match="LIVEFOLD_CLICKHOUSE_PORT"):
            start_and_stop(scratch)


def test_a_port_taken_by_another_clickhouse_after_the_check_is_still_an_error(
    analytics: Settings, scratch: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another ClickHouse answers /ping and SELECT 1 on that port: it must not pass for ours.
    monkeypatch.setattr("infra.service.port_is_free", lambda host, port: True)
    taken = changed(scratch, clickhouse_port=analytics.clickhouse_port)
    started = time.monotonic()
    with pytest.raises(InfraError, match="LIVEFOLD_CLICKHOUSE_PORT"):
        start_and_stop(taken)
    assert time.monotonic() - started < 10.0


def test_a_second_server_on_the_same_data_dir_is_refused(
    analytics: Settings, scratch: Settings
) -> None:
    same_data = changed(analytics, clickhouse_port=scratch.clickhouse_port)
    with pytest.raises(InfraError, match="LIVEFOLD_DATA_DIR"):
        start_and_stop(same_data)


def test_a_url_with_credentials_reaches_the_server_like_a_production_one(
    analytics: Settings,
) -> None:
    password = analytics.secret("clickhouse_analyst_password")
    url = f"http://analyst:{password}@{analytics.host}:{analytics.clickhouse_port}"
    client = clickhouse_client(changed(analytics, clickhouse_url=url))
    assert client.command("SELECT currentUser()") == "analyst"
    client.close()


def as_user(settings: Settings, user: str, password: str) -> Client:
    return connect(settings.clickhouse, username=user, password=password)


def refusal(client: Client, statement: str) -> str:
    with pytest.raises(DatabaseError) as refused:
        client.command(statement)
    return str(refused.value)


def test_no_user_reads_files_or_fetches_urls_and_default_does_nothing_else(
    analytics: Settings,
) -> None:
    key = keys_dir(analytics.data_dir) / "clickhouse_password.json"
    users = [
        as_user(analytics, "default", ""),
        clickhouse_client(analytics),
        clickhouse_client(analytics, analyst=True),
    ]
    for client in users:
        read = refusal(client, f"SELECT * FROM file('{key}', 'LineAsString')")
        fetched = refusal(client, f"SELECT * FROM url('{analytics.registry}', 'LineAsString')")
        assert "READ ON FILE" in read and "READ ON URL" in fetched
        engine = refusal(client, "CREATE TABLE livefold.leak (line String) ENGINE = URL('x')")
        assert "ACCESS_DENIED" in engine or "Not enough privileges" in engine
    table = unique_table("private")
    users[1].command(f"CREATE TABLE {table} (n UInt8) ENGINE = MergeTree ORDER BY n")
    assert "Not enough privileges" in refusal(users[0], f"SELECT * FROM livefold.{table}")
    assert "ACCESS_DENIED" in refusal(users[0], "SELECT count() FROM system.disks")
    for client in users:
        client.close()


def test_analysts_read_livefolds_tables_and_change_nothing(analytics: Settings) -> None:
    table = unique_table("readonly")
    client = clickhouse_client(analytics)
    client.command(f"CREATE TABLE {table} (n UInt8) ENGINE = MergeTree ORDER BY n")
    client.insert(table, [(1,)], column_names=["n"])
    analyst = clickhouse_client(analytics, analyst=True)
    assert analyst.command(f"SELECT sum(n) FROM {table}") == 1
    for statement in (
        f"INSERT INTO {table} VALUES (2)",
        f"DROP TABLE {table}",
        "CREATE TABLE livefold.mine (n UInt8) ENGINE = Memory",
    ):
        refused = refusal(analyst, statement)
        assert "ACCESS_DENIED" in refused or "READONLY" in refused, refused
    with pytest.raises(DatabaseError, match="AUTHENTICATION_FAILED"):
        as_user(analytics, analytics.clickhouse_user, "not-the-password")
    analyst.close()
    client.close()


def test_clickhouse_credentials_are_the_installs_own_and_private(analytics: Settings) -> None:
    service = clickhouse.service(analytics)
    assert stat.S_IMODE(service.users_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(service.workdir.stat().st_mode) == 0o700
    assert analytics.secret("clickhouse_password") not in service.users_file.read_text()


@pytest.mark.parametrize("url", ["ftp://clickhouse.example", "clickhouse.example:8123", "http://"])
def test_a_malformed_clickhouse_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="LIVEFOLD_CLICKHOUSE_URL"):
        clickhouse_client(Settings(clickhouse_url=url))


def changed(settings: Settings, **changes: object) -> Settings:
    # Not model_copy(): it would carry over cached properties such as `clickhouse`.
    return Settings(**{**settings.model_dump(), **changes})


def start_and_stop(settings: Settings) -> None:
    service = clickhouse.service(settings)
    server = RunningService(service, output=log_to(settings.data_dir / "logs")(service))
    try:
        server.start()
    finally:
        server.stop()
