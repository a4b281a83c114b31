"""The ClickHouse tables analysts query: one wide `events` table the sink writes, and per-domain
tables and per-minute engagement that materialized views derive from it on every insert.

Every table name carries a prefix ("" live, e.g. "replay_3_" for a replay), so a replay builds a
complete second set next to the live one and the two can be compared.

Exactly-once counting: materialized views fire on every insert, so nothing may reach `events`
twice. The sink guarantees that before inserting (see `agents.analytics_rows`): rows at or
below the highest offset already stored are skipped, recent event ids are remembered, and a
retried insert carries the same deduplication token. `events` and the raw per-domain tables
are also ReplacingMergeTree keyed by event_id, so `FINAL` gives exact rows even in the one
corner the sink cannot cover (the server dying inside an insert); see docs/analytics.md.
"""

from __future__ import annotations

import hashlib
import re

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.binding import quote_identifier

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

# target table -> (DDL of the target, the SELECT its materialized view runs on each insert)
_DERIVED: dict[str, tuple[str, str]] = {
    "chat_messages": (
        """(
            stream_id String, occurred_at DateTime64(3, 'UTC'), event_id String,
            message_id String, user_id String, text String, reply_to String, emotes UInt16
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, occurred_at, event_id)""",
        """SELECT stream_id, occurred_at, event_id, message_id, user_id,
            JSONExtractString(payload, 'text') AS text,
            JSONExtractString(payload, 'reply_to') AS reply_to,
            length(JSONExtractArrayRaw(payload, 'emotes')) AS emotes
        FROM {events} WHERE event_type = 'livefold.chat.MessageSent'""",
    ),
    "chat_verdicts": (
        """(
            stream_id String, message_id String, occurred_at DateTime64(3, 'UTC'),
            offset UInt64, event_id String, verdict LowCardinality(String),
            rule LowCardinality(String), score Float64, actor_id String
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, message_id, offset, event_id)""",
        """SELECT stream_id, message_id, occurred_at, offset, event_id, verdict,
            JSONExtractString(payload, 'rule') AS rule,
            JSONExtractFloat(payload, 'score') AS score, actor_id
        FROM {events} WHERE event_type = 'livefold.moderation.VerdictIssued'""",
    ),
    "votes": (
        """(
            stream_id String, poll_id String, offset UInt64, occurred_at DateTime64(3, 'UTC'),
            event_id String, voter String, option_ids Array(String)
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, poll_id, offset, event_id)""",
        """SELECT stream_id, poll_id, offset, occurred_at, event_id, actor_id AS voter, option_ids
        FROM {events} WHERE event_type = 'livefold.polls.VoteCast'""",
    ),
    "polls": (
        """(
            stream_id String, poll_id String,
            question SimpleAggregateFunction(max, String),
            options SimpleAggregateFunction(max, Array(String)),
            multi_select SimpleAggregateFunction(max, UInt8),
            allow_vote_change SimpleAggregateFunction(max, UInt8),
            duration_seconds SimpleAggregateFunction(max, UInt32),
            created_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            opened_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            opened_offset SimpleAggregateFunction(min, Nullable(UInt64)),
            closes_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            closed_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            closed_offset SimpleAggregateFunction(min, Nullable(UInt64))
        ) ENGINE = AggregatingMergeTree ORDER BY (stream_id, poll_id)""",
        """SELECT stream_id, poll_id,
            if(name = 'PollCreated', JSONExtractString(payload, 'question'), '') AS question,
            if(name = 'PollCreated', arrayMap(o -> JSONExtractString(o, 'option_id'),
                JSONExtractArrayRaw(payload, 'options')), []) AS options,
            JSONExtractBool(payload, 'multi_select') AS multi_select,
            JSONExtractBool(payload, 'allow_vote_change') AS allow_vote_change,
            JSONExtractUInt(payload, 'duration_seconds') AS duration_seconds,
            if(name = 'PollCreated', occurred_at, NULL) AS created_at,
            if(name = 'PollOpened', occurred_at, NULL) AS opened_at,
            if(name = 'PollOpened', offset, NULL) AS opened_offset,
            if(name = 'PollOpened', fromUnixTimestamp64Milli(
                JSONExtract(payload, 'closes_at', 'Nullable(Int64)'), 'UTC'), NULL) AS closes_at,
            if(name = 'PollClosed', occurred_at, NULL) AS closed_at,
            if(name = 'PollClosed', offset, NULL) AS closed_offset
        FROM {events} WHERE domain = 'polls' AND name != 'VoteCast'""",
    ),
    "tips": (
        """(
            stream_id String, occurred_at DateTime64(3, 'UTC'), offset UInt64, event_id String,
            kind LowCardinality(String), tip_id String, idempotency_key String,
            actor_id String, amount_minor Int64, currency LowCardinality(String)
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, occurred_at, event_id)""",
        """SELECT stream_id, occurred_at, offset, event_id,
            multiIf(name = 'TipIntentCreated', 'intent', name = 'TipCaptured', 'captured',
                name = 'TipFailed', 'failed', 'refunded') AS kind,
            tip_id, idempotency_key, actor_id, amount_minor, currency
        FROM {events} WHERE domain = 'tips'""",
    ),
    "reactions_per_second": (
        """(
            stream_id String, second DateTime('UTC'), kind LowCardinality(String),
            reactions UInt64, events UInt64
        ) ENGINE = SummingMergeTree PARTITION BY toYYYYMM(second)
        ORDER BY (stream_id, second, kind)""",
        """SELECT stream_id, toStartOfSecond(occurred_at) AS second, reaction_kind AS kind,
            sum(count) AS reactions, count() AS events
        FROM {events} WHERE event_type = 'livefold.reactions.ReactionSent'
        GROUP BY stream_id, second, kind""",
    ),
    "viewer_sessions": (
        """(
            stream_id String, session_id String,
            viewer_id SimpleAggregateFunction(max, String),
            device SimpleAggregateFunction(max, String),
            country SimpleAggregateFunction(max, String),
            joined_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
            last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
            left_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            heartbeats SimpleAggregateFunction(sum, UInt64),
            timeout_ms SimpleAggregateFunction(max, UInt32)
        ) ENGINE = AggregatingMergeTree ORDER BY (stream_id, session_id)""",
        """SELECT stream_id, session_id, user_id AS viewer_id, toString(device) AS device,
            toString(country) AS country,
            if(name = 'ViewerJoined', occurred_at, NULL) AS joined_at,
            occurred_at AS first_seen, occurred_at AS last_seen,
            if(name = 'ViewerLeft', occurred_at, NULL) AS left_at,
            toUInt64(name = 'ViewerHeartbeat') AS heartbeats,
            if(name = 'ViewerLeft', 0,
                ifNull(JSONExtract(payload, 'timeout_ms', 'Nullable(UInt32)'), 60000))
                AS timeout_ms
        FROM {events}
        WHERE domain = 'audience' AND name IN ('ViewerJoined', 'ViewerHeartbeat', 'ViewerLeft')""",
    ),
    "engagement_per_minute": (
        """(
            stream_id String, minute DateTime('UTC'),
            messages SimpleAggregateFunction(sum, UInt64),
            chatters AggregateFunction(uniqExact, String),
            reactions SimpleAggregateFunction(sum, UInt64),
            votes SimpleAggregateFunction(sum, UInt64),
            tips AggregateFunction(uniqExact, String),
            viewers AggregateFunction(uniqExact, String)
        ) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(minute)
        ORDER BY (stream_id, minute)""",
        """SELECT stream_id, toStartOfMinute(occurred_at) AS minute,
            countIf(name = 'MessageSent') AS messages,
            uniqExactStateIf(user_id, name = 'MessageSent') AS chatters,
            sumIf(count, name = 'ReactionSent') AS reactions,
            countIf(name = 'VoteCast') AS votes,
            uniqExactStateIf(idempotency_key, name = 'TipCaptured') AS tips,
            uniqExactStateIf(user_id, domain = 'audience') AS viewers
        FROM {events}
        WHERE name IN ('MessageSent', 'ReactionSent', 'VoteCast', 'TipCaptured',
            'ViewerJoined', 'ViewerHeartbeat', 'ViewerLeft')
        GROUP BY stream_id, minute""",
    ),
}

TABLES = ("events", *_DERIVED)

# One row of figures per table that must agree between two builds from the same log (live
# and replay). Fingerprints XOR a hash of each row's content, so row order does not matter.
_SUMMARIES: dict[str, str] = {
    "events": """SELECT count() AS rows, uniqExact(event_id) AS event_ids,
        groupBitXor(cityHash64(event_id, stream_id, occurred_at, topic, partition, offset,
            payload)) AS fingerprint FROM {table} FINAL""",
    "chat_messages": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, message_id,
        user_id, text)) AS fingerprint FROM {table} FINAL""",
    "chat_verdicts": """SELECT count() AS rows, countIf(verdict = 'block') AS blocks,
        groupBitXor(cityHash64(event_id, message_id, verdict)) AS fingerprint
        FROM {table} FINAL""",
    "votes": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, voter, option_ids))
        AS fingerprint FROM {table} FINAL""",
    "polls": """SELECT count() AS polls, groupBitXor(cityHash64(toString(tuple(stream_id, poll_id,
        question, options, opened_offset, closes_at, closed_offset)))) AS fingerprint
        FROM {table} FINAL""",
    "tips": """SELECT count() AS rows, sumIf(amount_minor, kind = 'captured') AS captured_minor,
        sumIf(amount_minor, kind = 'refunded') AS refunded_minor,
        groupBitXor(cityHash64(event_id, kind, amount_minor)) AS fingerprint
        FROM {table} FINAL""",
    "reactions_per_second": """SELECT count() AS seconds, sum(reactions) AS reactions,
        sum(events) AS events FROM {table} FINAL""",
    "viewer_sessions": """SELECT count() AS sessions, sum(heartbeats) AS heartbeats,
        groupBitXor(cityHash64(toString(tuple(stream_id, session_id, viewer_id, device,
            joined_at, first_seen, last_seen, left_at, timeout_ms)))) AS fingerprint
        FROM {table} FINAL""",
    "engagement_per_minute": """SELECT count() AS minutes, sum(messages) AS messages,
        sum(chatters) AS chatters, sum(reactions) AS reactions, sum(votes) AS votes,
        sum(tips) AS tips, sum(viewers) AS viewers FROM (
            SELECT stream_id, minute, sum(messages) AS messages,
                uniqExactMerge(chatters) AS chatters, sum(reactions) AS reactions,
                sum(votes) AS votes, uniqExactMerge(tips) AS tips,
                uniqExactMerge(viewers) AS viewers
            FROM {table} GROUP BY stream_id, minute)""",
}


def checked_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"table prefix {prefix!r} may hold only letters, digits and underscores")
    return prefix


def table_name(database: str, prefix: str, table: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(checked_prefix(prefix) + table)}"


def version_of(table: str) -> str:
    """The comment a derived table carries: a hash of its DDL and its view's SELECT."""
    definition, select = _DERIVED[table]
    return "definition " + hashlib.sha256(f"{definition}\n{select}".encode()).hexdigest()[:16]


def schema_statements(database: str, prefix: str = "") -> list[str]:
    """CREATE statements in dependency order: targets, then `events`, then the views."""
    events = table_name(database, prefix, "events")
    columns = ",\n    ".join(f"{quote_identifier(name)} {kind}" for name, kind in EVENT_COLUMNS)
    statements = [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}"]
    for table, (definition, _) in _DERIVED.items():
        target = table_name(database, prefix, table)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {target} {definition} SETTINGS {_DEDUPED}"
            f" COMMENT '{version_of(table)}'"
        )
    statements.append(_EVENTS.format(events=events, columns=columns, deduped=_DEDUPED))
    for table, (_, select) in _DERIVED.items():
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
        for table in _DERIVED:
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
        select = _DERIVED[table][1].format(events=events)
        client.command(f"INSERT INTO {table_name(database, prefix, table)} {select}")
    return rebuilt


def drop_schema(client: Client, database: str, prefix: str) -> None:
    """Drop a prefixed set (an old replay). The live set (empty prefix) is never dropped here."""
    if not checked_prefix(prefix):
        raise ValueError("refusing to drop the live analytics tables (empty prefix)")
    for table in _DERIVED:
        _drop_derived(client, database, prefix, table)
    client.command(f"DROP TABLE IF EXISTS {table_name(database, prefix, 'events')}")


def _drop_derived(client: Client, database: str, prefix: str, table: str) -> None:
    client.command(f"DROP VIEW IF EXISTS {table_name(database, prefix, table + '_from_events')}")
    client.command(f"DROP TABLE IF EXISTS {table_name(database, prefix, table)}")


def summary(client: Client, database: str, prefix: str = "") -> dict[str, dict[str, int]]:
    """{table: {figure: value}} for every table of the set."""
    figures: dict[str, dict[str, int]] = {}
    for table, query in _SUMMARIES.items():
        result = client.query(query.format(table=table_name(database, prefix, table)))
        row = result.result_rows[0]
        figures[table] = {
            name: int(value) for name, value in zip(result.column_names, row, strict=True)
        }
    return figures
