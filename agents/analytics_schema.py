"""The ClickHouse tables analysts query: one wide `events` table the sink writes, and per-domain
tables and per-minute engagement that materialized views derive from it on every insert.

Every table name carries a prefix ("" live, e.g. "replay_3_" for a replay), so a replay builds a
complete second set next to the live one and the two can be compared.

Exactly-once counting: materialized views fire on every insert, so nothing may reach `events`
twice. The sink guarantees that before inserting (see `agents.analytics_rows`): records whose
offsets are stored already are skipped, recent event ids are remembered, and a
retried insert carries the same deduplication token. `events` and the raw per-domain tables
are also ReplacingMergeTree keyed by event_id, so `FINAL` gives exact rows even in the one
corner the sink cannot cover (the server dying inside an insert); see docs/analytics.md.
"""

from __future__ import annotations

import hashlib
import re

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.binding import quote_identifier

from agents.analytics_tables import DERIVED, SUMMARIES

# The sink retries an insert with the same token; ClickHouse remembers this many per table.
DEDUPLICATION_WINDOW = 1000
_DEDUPED = f"non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}"
_PREFIX = re.compile(r"[A-Za-z0-9_]*")

# (name, type) in the order the sink sends them; ingested_at is filled in by the server.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "String"),
    ("event_type", "LowCardinality(String)"),  # "livefold.chat.MessageSent"
    ("domain", "LowCardinality(String)"),  # "chat"
    ("name", "LowCardinality(String)"),  # "MessageSent"
    ("stream_id", "String"),
    ("actor_id", "String"),
    ("occurred_at", "DateTime64(3, 'UTC')"),
    ("trace_id", "String"),
    ("topic", "LowCardinality(String)"),
    ("partition", "UInt16"),
    ("offset", "UInt64"),
    ("user_id", "String"),  # whom the event is about: viewer, target user, guest, else the actor
    ("message_id", "String"),
    ("poll_id", "String"),
    ("option_ids", "Array(String)"),  # a vote's choice, a quiz answer, a revealed answer
    ("quiz_id", "String"),
    ("question_id", "String"),
    ("session_id", "String"),
    ("tip_id", "String"),
    ("idempotency_key", "String"),
    ("amount_minor", "Int64"),
    ("currency", "LowCardinality(String)"),
    ("reaction_kind", "LowCardinality(String)"),
    ("count", "UInt32"),  # reactions carried by a ReactionSent
    ("device", "LowCardinality(String)"),
    ("country", "LowCardinality(String)"),
    ("verdict", "LowCardinality(String)"),
    ("payload", "String"),  # JSON of every field but the envelope (bytes fields left out)
)
EVENT_COLUMN_NAMES = tuple(name for name, _ in EVENT_COLUMNS)

_EVENTS = """
CREATE TABLE IF NOT EXISTS {events} (
    {columns},
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    -- where each stored record came from, sorted by position: the sink resumes from it
    PROJECTION by_position (
        SELECT topic, partition, offset, event_id, occurred_at ORDER BY (topic, partition, offset)
    )
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(occurred_at)
ORDER BY (stream_id, occurred_at, event_id)
SETTINGS {deduped}, deduplicate_merge_projection_mode = 'rebuild'
"""

TABLES = ("events", *DERIVED)


def checked_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"table prefix {prefix!r} may hold only letters, digits and underscores")
    return prefix


def table_name(database: str, prefix: str, table: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(checked_prefix(prefix) + table)}"


def version_of(table: str) -> str:
    """The comment a derived table carries: a hash of its DDL and its view's SELECT."""
    definition, select = DERIVED[table]
    return "definition " + hashlib.sha256(f"{definition}\n{select}".encode()).hexdigest()[:16]


def schema_statements(database: str, prefix: str = "") -> list[str]:
    """CREATE statements in dependency order: targets, then `events`, then the views."""
    events = table_name(database, prefix, "events")
    columns = ",\n    ".join(f"{quote_identifier(name)} {kind}" for name, kind in EVENT_COLUMNS)
    statements = [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}"]
    for table, (definition, _) in DERIVED.items():
        target = table_name(database, prefix, table)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {target} {definition} SETTINGS {_DEDUPED}"
            f" COMMENT '{version_of(table)}'"
        )
    statements.append(_EVENTS.format(events=events, columns=columns, deduped=_DEDUPED))
    for table, (_, select) in DERIVED.items():
        view = table_name(database, prefix, f"{table}_from_events")
        target = table_name(database, prefix, table)
        statements.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {target} AS "
            + select.format(events=events)
        )
    return statements


def ensure_schema(client: Client, database: str, prefix: str = "") -> list[str]:
    """Create whatever is missing. A derived table that is missing while `events` exists, or
    whose definition changed since it was made, is (re)built from `events`, since it is a
    function of it; the derived tables rebuilt are returned. Rebuilding while another sink
    inserts may miss or repeat that sink's rows: upgrade with the sinks stopped."""
    listed = client.query(
        "SELECT name, comment FROM system.tables WHERE database = {database:String}",
        parameters={"database": database},
    )
    found = {str(name): str(comment) for name, comment in listed.result_rows}
    rebuilt = []
    if checked_prefix(prefix) + "events" in found:
        for table in DERIVED:
            comment = found.get(prefix + table)
            if comment == version_of(table):
                continue
            if comment is not None:
                _drop_derived(client, database, prefix, table)
            rebuilt.append(table)
    for statement in schema_statements(database, prefix):
        client.command(statement)
    events = table_name(database, prefix, "events")
    for table in rebuilt:
        select = DERIVED[table][1].format(events=events)
        client.command(f"INSERT INTO {table_name(database, prefix, table)} {select}")
    return rebuilt


def drop_schema(client: Client, database: str, prefix: str) -> None:
    """Drop a prefixed set (an old replay). The live set (empty prefix) is never dropped here."""
    if not checked_prefix(prefix):
        raise ValueError("refusing to drop the live analytics tables (empty prefix)")
    for table in DERIVED:
        _drop_derived(client, database, prefix, table)
    client.command(f"DROP TABLE IF EXISTS {table_name(database, prefix, 'events')}")


def _drop_derived(client: Client, database: str, prefix: str, table: str) -> None:
    client.command(f"DROP VIEW IF EXISTS {table_name(database, prefix, table + '_from_events')}")
    client.command(f"DROP TABLE IF EXISTS {table_name(database, prefix, table)}")


def summary(client: Client, database: str, prefix: str = "") -> dict[str, dict[str, int]]:
    """{table: {figure: value}} for every table of the set."""
    figures: dict[str, dict[str, int]] = {}
    for table, query in SUMMARIES.items():
        result = client.query(query.format(table=table_name(database, prefix, table)))
        row = result.result_rows[0]
        figures[table] = {
            name: int(value) for name, value in zip(result.column_names, row, strict=True)
        }
    return figures
