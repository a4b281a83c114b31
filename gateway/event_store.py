"""The log's copy in ClickHouse, read as the read-only analyst (like gateway/analytics.py): a
stream's events from the `events` table (ordered by stream and time, so a window is one index
range), and which of a page of sent chat messages the live chat shows, as it shows them.

Used by chat replay (gateway/replay.py) and chat scroll-back (gateway/chat_history.py). What the
live chat hides stays hidden, by the live chat's own rules: the page's messages are folded with
every verdict and deletion about them (any time later) through `livefold.chat`, and only those
it publishes are shown; their texts are opened as the chat channel's are (None once the author's
account was erased).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.exceptions import ClickHouseError

from gateway.analytics import CLIENTS
from gateway.errors import ApiError, invalid
from gateway.runtime import Gateway
from livefold import chat
from streams.events import Event
from streams.validation import FieldError

JUDGING = (chat.VERDICT_ISSUED, chat.MESSAGE_DELETED)
CLOCK_SKEW_MS = 60_000
_COLUMNS = "event_id, event_type, actor_id, toUnixTimestamp64Milli(occurred_at), trace_id, payload"


def _events(rows: Iterable[Sequence[Any]], stream_id: str) -> list[Event]:
    return [
        Event(
            str(event_type),
            {
                **json.loads(payload),
                "event_id": str(event_id),
                "stream_id": stream_id,
                "actor_id": str(actor),
                "occurred_at": int(at),
                "trace_id": trace or None,
            },
        )
        for event_id, event_type, actor, at, trace, payload in rows
    ]


def _client(gateway: Gateway) -> Client:
    try:
        return CLIENTS.get(gateway.settings)
    except ClickHouseError as error:
        raise _unavailable() from error


def _unavailable() -> ApiError:
    reason = "the event store (ClickHouse) did not answer; retry soon"
    return ApiError(503, "unavailable", reason, headers={"Retry-After": "1"})


def any_stored(gateway: Gateway) -> bool:
    """Whether the sink made the `events` table yet (before, nothing is stored)."""
    try:
        return bool(_client(gateway).command(f"EXISTS TABLE {quote_identifier('events')}"))
    except ClickHouseError as error:
        raise _unavailable() from error


def read_events(
    gateway: Gateway,
    sql: str,
    parameters: dict[str, Any],
    stream_id: str,
    limit: int = 0,
    order: str = "occurred_at, event_id",
) -> list[Event]:
    """The stream's events matching `sql` (a condition on `events`' columns), in `order`.
    ClickHouse down: a 503 with Retry-After."""
    table = quote_identifier("events")
    query = (
        f"SELECT {_COLUMNS} FROM {table} FINAL WHERE stream_id = {{stream:String}} AND {sql}"
        f" ORDER BY {order}" + (f" LIMIT {int(limit)}" if limit else "")
    )
    try:
        result = _client(gateway).query(query, parameters={"stream": stream_id, **parameters})
    except ClickHouseError as error:
        raise _unavailable() from error
    return _events(result.result_rows, stream_id)


def visible_messages(gateway: Gateway, sent: list[Event]) -> dict[str, dict[str, Any]]:
    """Which of `sent` the live chat shows, as it shows them, by message id."""
    if not sent:
        return {}
    stream_id = sent[0].stream_id
    ids = [str(event.body["message_id"]) for event in sent]
    # A verdict or deletion comes after its message (a verdict the message causes carries its
    # time); the bound keeps the read to the stream's events since the page's oldest message
    # (one index range), with room for gateways' clocks that disagree a little.
    since = min(event.occurred_at_ms for event in sent) - CLOCK_SKEW_MS
    judging = read_events(
        gateway,
        "occurred_at >= fromUnixTimestamp64Milli({since:Int64})"
        " AND has({types:Array(String)}, event_type) AND has({ids:Array(String)}, message_id)",
        {"types": list(JUDGING), "ids": ids, "since": since},
        stream_id,
    )
    state = None
    for event in sorted([*sent, *judging], key=lambda e: (e.occurred_at_ms, e.event_id)):
        state, _ = chat.fold(state, event)
    shown = [] if state is None else state["recent"]  # a page holds at most RECENT_LIMIT
    opened = gateway.store.shown(chat.CHANNEL, {"messages": [dict(m) for m in shown]})
    return {str(message["message_id"]): message for message in opened["messages"]}


def parse_position(cursor: str, name: str = "cursor") -> tuple[int, str]:
    """A cursor this API gave out, `<epoch ms>:<id>`, as a position to compare with."""
    at, colon, key = cursor.partition(":")
    if not colon or not at.isdigit() or len(cursor) > 400:
        raise invalid([FieldError(name, "is not a cursor this API gave out")])
    return int(at), key
