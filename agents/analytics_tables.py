"""The tables materialized views derive from `events` (their DDL and the SELECT each view runs
on every insert), and the figures per table that two builds from one log must agree on
(`agents.analytics_schema.summary`). Documented in docs/analytics.md."""

from __future__ import annotations

# target table -> (DDL of the target, the SELECT its materialized view runs on each insert)
DERIVED: dict[str, tuple[str, str]] = {
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
    "chat_deletions": (
        """(
            stream_id String, message_id String, occurred_at DateTime64(3, 'UTC'),
            offset UInt64, event_id String, actor_id String, reason LowCardinality(String)
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, message_id, event_id)""",
        """SELECT stream_id, message_id, occurred_at, offset, event_id, actor_id,
            JSONExtractString(payload, 'reason') AS reason
        FROM {events} WHERE event_type = 'livefold.chat.MessageDeleted'""",
    ),
    "quiz_questions": (
        """(
            stream_id String, quiz_id String, question_id String, offset UInt64,
            posed_at DateTime64(3, 'UTC'), event_id String, question String,
            options Array(String), correct_option String, points UInt32,
            time_limit_seconds UInt32
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(posed_at)
        ORDER BY (stream_id, quiz_id, question_id, offset, event_id)""",
        """SELECT stream_id, quiz_id, question_id, offset, occurred_at AS posed_at, event_id,
            JSONExtractString(payload, 'question') AS question,
            arrayMap(o -> JSONExtractString(o, 'option_id'),
                JSONExtractArrayRaw(payload, 'options')) AS options,
            JSONExtractString(payload, 'correct_option') AS correct_option,
            JSONExtractUInt(payload, 'points') AS points,
            JSONExtractUInt(payload, 'time_limit_seconds') AS time_limit_seconds
        FROM {events} WHERE event_type = 'livefold.quiz.QuizQuestionPosed'""",
    ),
    "quiz_answers": (
        """(
            stream_id String, quiz_id String, question_id String, offset UInt64,
            occurred_at DateTime64(3, 'UTC'), event_id String, player String, option_id String
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, quiz_id, question_id, offset, event_id)""",
        """SELECT stream_id, quiz_id, question_id, offset, occurred_at, event_id,
            actor_id AS player, option_ids[1] AS option_id
        FROM {events} WHERE event_type = 'livefold.quiz.QuizAnswerSubmitted'""",
    ),
    "quiz_reveals": (
        """(
            stream_id String, quiz_id String, question_id String, offset UInt64,
            occurred_at DateTime64(3, 'UTC'), event_id String, correct_option String
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, quiz_id, question_id, offset, event_id)""",
        """SELECT stream_id, quiz_id, question_id, offset, occurred_at, event_id,
            option_ids[1] AS correct_option
        FROM {events} WHERE event_type = 'livefold.quiz.QuizAnswerRevealed'""",
    ),
    "streams": (
        """(
            stream_id String,
            streamer SimpleAggregateFunction(max, String),
            title AggregateFunction(argMax, String, UInt64),
            category AggregateFunction(argMax, String, UInt64),
            tags AggregateFunction(argMax, Array(String), UInt64),
            language AggregateFunction(argMax, String, UInt64),
            created_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            scheduled_start SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            live_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            ended_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            end_reason SimpleAggregateFunction(max, String)
        ) ENGINE = AggregatingMergeTree ORDER BY stream_id""",
        """SELECT stream_id,
            maxIf(actor_id, name = 'Created') AS streamer,
            argMaxStateIf(JSONExtractString(payload, 'title'), offset,
                JSONHas(payload, 'title') AND JSONType(payload, 'title') = 'String') AS title,
            argMaxStateIf(JSONExtractString(payload, 'category'), offset,
                JSONHas(payload, 'category') AND JSONType(payload, 'category') = 'String')
                AS category,
            argMaxStateIf(JSONExtract(payload, 'tags', 'Array(String)'), offset,
                JSONHas(payload, 'tags') AND JSONType(payload, 'tags') = 'Array') AS tags,
            argMaxStateIf(JSONExtractString(payload, 'language'), offset,
                JSONHas(payload, 'language') AND JSONType(payload, 'language') = 'String')
                AS language,
            minIf(toNullable(occurred_at), name = 'Created') AS created_at,
            minIf(fromUnixTimestamp64Milli(
                JSONExtract(payload, 'scheduled_start', 'Nullable(Int64)'), 'UTC'),
                name = 'Created') AS scheduled_start,
            minIf(toNullable(occurred_at), name = 'WentLive') AS live_at,
            minIf(toNullable(occurred_at), name = 'Ended') AS ended_at,
            maxIf(JSONExtractString(payload, 'reason'), name = 'Ended') AS end_reason
        FROM {events} WHERE domain = 'stream'
        GROUP BY stream_id""",
    ),
    "users": (
        """(
            user_id String,
            created_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
            deleted_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC')))
        ) ENGINE = AggregatingMergeTree ORDER BY user_id""",
        """SELECT user_id,
            if(name = 'AccountCreated', toNullable(occurred_at), NULL) AS created_at,
            if(name = 'AccountDeleted', toNullable(occurred_at), NULL) AS deleted_at
        FROM {events} WHERE event_type IN
            ('livefold.accounts.AccountCreated', 'livefold.accounts.AccountDeleted')""",
    ),
    "user_roles": (
        """(
            user_id String, offset UInt64, occurred_at DateTime64(3, 'UTC'), event_id String,
            role LowCardinality(String), channel_id String, granted UInt8
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (user_id, role, channel_id, offset, event_id)""",
        """SELECT user_id, offset, occurred_at, event_id,
            JSONExtractString(payload, 'role') AS role,
            JSONExtractString(payload, 'channel_id') AS channel_id,
            name = 'RoleGranted' AS granted
        FROM {events} WHERE event_type IN
            ('livefold.accounts.RoleGranted', 'livefold.accounts.RoleRevoked')""",
    ),
    "fold_refusals": (
        """(
            stream_id String, occurred_at DateTime64(3, 'UTC'), offset UInt64, event_id String,
            refused_event_id String, refused_type LowCardinality(String),
            fold LowCardinality(String), actor_id String, reason String
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)
        ORDER BY (stream_id, occurred_at, event_id)""",
        """SELECT stream_id, occurred_at, offset, event_id,
            JSONExtractString(payload, 'refused_event_id') AS refused_event_id,
            JSONExtractString(payload, 'refused_type') AS refused_type,
            JSONExtractString(payload, 'fold') AS fold, actor_id,
            JSONExtractString(payload, 'reason') AS reason
        FROM {events} WHERE event_type = 'livefold.folds.EventRefused'""",
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


# One row of figures per table that must agree between two builds from the same log (live
# and replay). Fingerprints XOR a hash of each row's content, so row order does not matter.
SUMMARIES: dict[str, str] = {
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
    "chat_deletions": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, message_id))
        AS fingerprint FROM {table} FINAL""",
    "quiz_questions": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, question_id,
        correct_option, points)) AS fingerprint FROM {table} FINAL""",
    "quiz_answers": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, player,
        option_id)) AS fingerprint FROM {table} FINAL""",
    "quiz_reveals": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, correct_option))
        AS fingerprint FROM {table} FINAL""",
    "streams": """SELECT count() AS streams, groupBitXor(cityHash64(toString(tuple(stream_id,
        streamer, title, category, tags, created_at, live_at, ended_at)))) AS fingerprint FROM (
            SELECT stream_id, max(streamer) AS streamer, argMaxMerge(title) AS title,
                argMaxMerge(category) AS category, argMaxMerge(tags) AS tags,
                min(created_at) AS created_at, min(live_at) AS live_at,
                min(ended_at) AS ended_at
            FROM {table} GROUP BY stream_id)""",
    "users": """SELECT count() AS users, countIf(deleted_at IS NOT NULL) AS deleted,
        groupBitXor(cityHash64(toString(tuple(user_id, created_at, deleted_at))))
        AS fingerprint FROM (SELECT user_id, min(created_at) AS created_at,
            min(deleted_at) AS deleted_at FROM {table} GROUP BY user_id)""",
    "user_roles": """SELECT count() AS rows, groupBitXor(cityHash64(event_id, role, granted))
        AS fingerprint FROM {table} FINAL""",
    "fold_refusals": """SELECT count() AS rows, groupBitXor(cityHash64(event_id,
        refused_event_id, reason)) AS fingerprint FROM {table} FINAL""",
    "engagement_per_minute": """SELECT count() AS minutes, sum(messages) AS messages,
        sum(chatters) AS chatters, sum(reactions) AS reactions, sum(votes) AS votes,
        sum(tips) AS tips, sum(viewers) AS viewers FROM (
            SELECT stream_id, minute, sum(messages) AS messages,
                uniqExactMerge(chatters) AS chatters, sum(reactions) AS reactions,
                sum(votes) AS votes, uniqExactMerge(tips) AS tips,
                uniqExactMerge(viewers) AS viewers
            FROM {table} GROUP BY stream_id, minute)""",
}
