"""The analytics store: ClickHouse, reached over its HTTP interface with clickhouse-connect.

`LIVEFOLD_CLICKHOUSE_URL` points it at a production server or cluster
(`https://user:password@clickhouse.example:8443`); unset, it is the local server that
`infra/clickhouse.py` runs. The database is `LIVEFOLD_CLICKHOUSE_DATABASE`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver import Client

from livefold.settings import Settings


def clickhouse_client(
    settings: Settings, *, in_database: bool = True, analyst: bool = False
) -> Client:
    """livefold's client (or, `analyst`, the read-only analysts' one), in livefold's database
    unless `in_database` is False (then tables are named in full)."""
    if analyst:
        user = settings.clickhouse_analyst_user
        password = settings.secret("clickhouse_analyst_password")
    else:
        user, password = settings.clickhouse_user, settings.secret("clickhouse_password")
    database = settings.clickhouse_database if in_database else None
    return connect(settings.clickhouse, database, username=user, password=password)


def connect(
    url: str,
    database: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    connect_timeout: float = 10.0,
    send_receive_timeout: float = 300.0,
) -> Client:
    """A client for the server at `url`, in `database` (None: the server's default).

    Credentials and client options may ride in the URL (`?compress=lz4`); credentials in the
    URL win over `username` and `password`. The scheme picks the protocol: clickhouse-connect
    alone would guess TLS from the port number.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"ClickHouse URL {url!r} is not http(s)://[user:password@]host[:port]; "
            "fix LIVEFOLD_CLICKHOUSE_URL"
        )
    return clickhouse_connect.get_client(
        dsn=url,
        interface=parts.scheme,
        database=database,
        username=None if parts.username else username,
        password="" if parts.username else password or "",
        connect_timeout=connect_timeout,
        send_receive_timeout=send_receive_timeout,
        # Sessions would serialise the queries of every thread sharing one client.
        autogenerate_session_id=False,
        # Its own connection pool, so that close() closes its connections (with the shared
        # pool they stay open, and a local server's stop waits for them).
        dedicated_pool=True,
    )
