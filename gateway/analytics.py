"""A stream's engagement over time, for its streamer's analytics tab: `GET
/api/v1/streams/{stream_id}/analytics?bucket=minute|hour` reads ClickHouse's
`engagement_per_minute` and `tips` (docs/analytics.md) as the read-only analyst user, for the
stream's streamer, moderators and admins. Buckets with no activity are filled with zeros, so a
chart's x axis is time; at most `MAX_BUCKETS` of them, the newest.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import ApiError, invalid
from gateway.reads import Param, Read, moderator_of, ready_gateway
from livefold.analytics_store import clickhouse_client
from livefold.settings import Settings
from streams.validation import FieldError

BUCKETS = {"minute": ("toStartOfMinute", 60_000), "hour": ("toStartOfHour", 3_600_000)}
MAX_BUCKETS = 720
SERIES = ("viewers", "chatters", "messages", "reactions", "votes", "tips")

ENGAGEMENT = """
SELECT toUnixTimestamp({start}(minute)) * 1000 AS at, sum(messages) AS messages,
    uniqExactMerge(chatters) AS chatters, sum(reactions) AS reactions, sum(votes) AS votes,
    uniqExactMerge(tips) AS tips, uniqExactMerge(viewers) AS viewers
FROM engagement_per_minute
WHERE stream_id = {{stream_id:String}}
GROUP BY at ORDER BY at DESC LIMIT {limit}
"""
# A tip's money counts once it is captured (the provider's own time), less what was refunded.
TIPS = """
SELECT currency, sumIf(amount_minor, kind = 'captured') - sumIf(amount_minor, kind = 'refunded')
FROM tips FINAL WHERE stream_id = {stream_id:String} GROUP BY currency ORDER BY currency
"""


class AnalystClients:
    """One read-only ClickHouse client per gateway process, made on first use."""

    def __init__(self) -> None:
        self._client: Client | None = None
        self._lock = threading.Lock()

    def get(self, settings: Settings) -> Client:
        with self._lock:
            if self._client is None:
                self._client = clickhouse_client(settings, analyst=True)
            return self._client


CLIENTS = AnalystClients()


def engagement(settings: Settings, stream_id: str, bucket: str) -> dict[str, Any]:
    start, step = BUCKETS[bucket]
    client = CLIENTS.get(settings)
    if not client.command("EXISTS TABLE engagement_per_minute"):
        return figures(stream_id, bucket, [], [])  # no sink has run yet: nothing counted
    query = ENGAGEMENT.format(start=start, limit=MAX_BUCKETS)
    rows = client.query(query, parameters={"stream_id": stream_id})
    names = rows.column_names[1:]
    found = {int(row[0]): dict(zip(names, row[1:], strict=True)) for row in rows.result_rows}
    points: list[dict[str, Any]] = []
    if found:
        first, last = min(found), max(found)
        for at in range(max(first, last - (MAX_BUCKETS - 1) * step), last + step, step):
            counted = found.get(at, {})
            points.append({"at": at, **{name: int(counted.get(name, 0)) for name in SERIES}})
    tips = client.query(TIPS, parameters={"stream_id": stream_id}).result_rows
    return figures(stream_id, bucket, points, tips)


def figures(
    stream_id: str, bucket: str, points: list[dict[str, Any]], tips: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    totals = {name: sum(point[name] for point in points) for name in SERIES}
    totals["peak_viewers"] = max((point["viewers"] for point in points), default=0)
    return {
        "stream_id": stream_id,
        "bucket": bucket,
        "bucket_ms": BUCKETS[bucket][1],
        "points": points,
        "totals": totals,
        "tips_by_currency": {str(currency): int(amount) for currency, amount in tips},
        "as_of": int(datetime.now(UTC).timestamp() * 1000),
    }


async def stream_analytics(request: Request) -> Response:
    """Per-bucket viewers (distinct, with presence that bucket), chatters, messages, reactions,
    votes and captured tips, oldest first with empty buckets as zeros; totals; net tips by
    currency. From ClickHouse, about a second behind the log."""
    gateway = ready_gateway(request)
    stream_id = request.path_params["stream_id"]
    moderator_of(request, gateway, stream_id)
    bucket = request.query_params.get("bucket", "minute")
    if bucket not in BUCKETS:
        raise invalid([FieldError("bucket", f"must be one of {', '.join(BUCKETS)}")])
    try:
        answer = await asyncio.to_thread(engagement, gateway.settings, stream_id, bucket)
    except ClickHouseError as error:  # down or refusing: the panel says so and asks again
        raise ApiError(503, "unavailable", "analytics are unavailable right now") from error
    return JSONResponse(answer)


READS = [
    Read(
        "/streams/{stream_id}/analytics",
        stream_analytics,
        "A stream's engagement per minute or hour, from ClickHouse (streamer, moderators)",
        query=(Param("bucket", {"type": "string", "enum": list(BUCKETS)}, "minute (default)"),),
        moderators_only=True,
    )
]
