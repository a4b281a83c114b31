"""ClickHouse's own HTTP server, run from the chdb-core wheel in a process of its own.

    python -m infra.chdb_server --port 8123 --data .livefold/clickhouse/data [--host 127.0.0.1]
        [--users users.xml]   (with LIVEFOLD_CLICKHOUSE_USER, LIVEFOLD_CLICKHOUSE_PASSWORD)

Users (`users_xml`, written by infra/clickhouse.py): livefold's own, with every right on its
database and none on files or URLs (no `file()`, `url()`); the analysts', read-only on that
database; and `default`, without a password because chdb's in-process session (the query that
keeps the listener up) logs in as it, so it may do nothing but that (SYSTEM LISTEN).

chdb embeds ClickHouse as a library. Only its one-shot query path can start the HTTP listener
(a persistent chdb connection refuses: "start_servers_callback is not set"), and the listener
lives only while that query runs, so the query is one that sleeps until it is killed.

What chdb does not say, this module checks:
- a busy port or a data dir locked by another process is printed on stderr only and the query
  just returns, so readiness is confirmed over HTTP, against this process's own data path;
- the query ends on `KILL QUERY` (see `stop_statement`), which is the clean way to stop; SIGTERM
  and SIGINT do that too, so a supervisor's plain signal never cuts off a write half-done.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import os
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import FrameType
from xml.sax.saxutils import escape

from infra.service import port_is_free

# Exit codes the parent (infra/clickhouse.py) turns into an error naming the setting to change.
PORT_UNAVAILABLE = 3
DATA_DIR_IN_USE = 4
DID_NOT_START = 5

# A distinctive alias, so that stopping kills this query and never a user's query.
KEEPALIVE_MARK = "livefold_chdb_server_keepalive"
# One row per block, a quarter second per row: a kill lands within 0.25 s, and idling costs
# about 0.5% of a core (a whole second per row: 0.3%, but stops take up to a second longer).
# sum(), not count(): count() over numbers() is answered without reading a row.
KEEPALIVE_SELECT = f"SELECT sum(sleepEachRow(0.25)) AS {KEEPALIVE_MARK}"
KEEPALIVE_QUERY = (
    f"SYSTEM START LISTEN HTTP; {KEEPALIVE_SELECT} FROM numbers(1000000000000) "
    "SETTINGS max_block_size = 1"
)
# Tells one server from another: each has its own data dir (ClickHouse locks it).
DATA_PATH_QUERY = "SELECT path FROM system.disks WHERE name = 'default'"
START_TIMEOUT = 60.0
KEEP_ALIVE_SECONDS = 3


def stop_statement() -> str:
    """The statement that ends a server started here. It matches on the start of the query text:
    the KILL and the lookup ClickHouse runs for it contain the mark too, further in."""
    return f"KILL QUERY WHERE startsWith(query, '{KEEPALIVE_SELECT}') ASYNC"


def config_xml(host: str, port: int, users: Path | None = None) -> str:
    # A stop waits for idle keep-alive connections to be closed; past 5 s ClickHouse gives up
    # and exits with code 1 instead of shutting down cleanly. Closing them after 3 s idle (the
    # server default for years, which HTTP clients are used to) keeps stops clean and short.
    directories = (
        ""
        if users is None
        else f"<user_directories><users_xml><path>{escape(str(users))}</path></users_xml>"
        "</user_directories>"
    )
    return (
        f"<clickhouse><http_port>{port}</http_port>"
        f"<listen_host>{escape(host)}</listen_host>"
        f"<keep_alive_timeout>{KEEP_ALIVE_SECONDS}</keep_alive_timeout>{directories}"
        "</clickhouse>\n"
    )


TABLE_ENGINES = (
    "MergeTree",
    "ReplacingMergeTree",
    "SummingMergeTree",
    "AggregatingMergeTree",
    "Memory",
)


def users_xml(database: str, app: tuple[str, str], analyst: tuple[str, str]) -> str:
    """The users of a server for `database`: (name, password) of livefold's and the analysts'."""
    quoted = "`" + database.replace("\\", "\\\\").replace("`", "\\`") + "`"

    def user(name: str, password: str, profile: str, grants: list[str]) -> str:
        digest = hashlib.sha256(password.encode()).hexdigest()
        queries = "".join(f"<query>{escape(grant)}</query>" for grant in grants)
        return (
            f"<{name}><password_sha256_hex>{digest}</password_sha256_hex>"
            "<networks><ip>::/0</ip></networks>"
            f"<profile>{profile}</profile><quota>default</quota>"
            f"<grants>{queries}</grants></{name}>"
        )

    return (
        "<clickhouse><users>"
        "<default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
        "<profile>default</profile><quota>default</quota>"
        "<grants><query>GRANT SYSTEM LISTEN ON *.*</query></grants></default>"
        + user(
            app[0],
            app[1],
            "default",
            [
                f"GRANT ALL ON {quoted}.*",
                "GRANT SELECT ON system.*",
                "GRANT KILL QUERY ON *.*",
                # Table engines that store data here; not File, URL, S3 and the like.
                *(f"GRANT TABLE ENGINE ON {engine}" for engine in TABLE_ENGINES),
            ],
        )
        + user(analyst[0], analyst[1], "analyst", [f"GRANT SELECT ON {quoted}.*"])
        + "</users><profiles><default></default>"
        # readonly=2: no writes, but clients may still set their session's settings.
        "<analyst><readonly>2</readonly></analyst></profiles>"
        "<quotas><default></default></quotas></clickhouse>\n"
    )


def local_url(host: str, port: int) -> str:
    """Where this machine reaches a server listening on `host` (wildcards via loopback)."""
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in probe_host:
        probe_host = f"[{probe_host}]"
    return f"http://{probe_host}:{port}"


def post(url: str, statement: str, timeout: float = 5.0) -> str:
    """Run `statement` as the user LIVEFOLD_CLICKHOUSE_USER names, if set."""
    request = urllib.request.Request(url + "/", data=statement.encode(), method="POST")
    user = os.environ.get("LIVEFOLD_CLICKHOUSE_USER")
    if user:
        credentials = f"{user}:{os.environ.get('LIVEFOLD_CLICKHOUSE_PASSWORD', '')}"
        request.add_header(
            "Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()
        )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read()).decode()


def data_dir_is_locked(data: Path) -> bool:
    """ClickHouse holds an flock on `<data>/status` while it runs."""
    try:
        fd = os.open(data / "status", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops a lock just taken
    return False


def serves_this_data_dir(url: str, data: Path) -> bool:
    """True once the server at `url` is this process's: its default disk is our data dir."""
    try:
        path = post(url, DATA_PATH_QUERY, timeout=2.0)
    except OSError:
        return False
    return Path(path.strip()).resolve() == data.resolve()


class Server:
    def __init__(self, host: str, port: int, data: Path):
        self.host = host
        self.port = port
        self.data = data
        self.url = local_url(host, port)
        self.stopping = threading.Event()
        self._keepalive = threading.Thread(target=self._serve, name="chdb-keepalive", daemon=True)

    def run(self) -> int:
        refusal = self._refusal()
        if refusal is not None:
            return refusal
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._keepalive.start()
        if not self._wait_listening():
            return self._refusal() or DID_NOT_START
        say(f"ClickHouse listening on {self.url} with data in {self.data}")
        while self._keepalive.is_alive():
            self._keepalive.join(1.0)
            if self.stopping.is_set():
                # A signal that came while the listener was up but the query not yet running
                # killed nothing: ask again until the query ends.
                with contextlib.suppress(OSError):
                    post(self.url, stop_statement())
        say("ClickHouse stopped")
        return 0

    def _refusal(self) -> int | None:
        if data_dir_is_locked(self.data):
            say(f"data dir {self.data} is in use by another ClickHouse process")
            return DATA_DIR_IN_USE
        if not port_is_free(self.host, self.port):
            say(f"cannot listen on {self.host}:{self.port}: the port is in use")
            return PORT_UNAVAILABLE
        return None

    def _serve(self) -> None:
        import chdb._chdb as chdb  # a 500 MB library: loaded by the server process only

        # The wheel's type stub omits query(). "TSV": other output formats failed here.
        chdb.query(KEEPALIVE_QUERY, "TSV", path=str(self.data))  # type: ignore[attr-defined]

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._keepalive.is_alive():
            if serves_this_data_dir(self.url, self.data):
                return True
            time.sleep(0.05)
        if self._keepalive.is_alive():
            say(f"ClickHouse did not answer on {self.url} within {START_TIMEOUT:.0f}s")
            os._exit(DID_NOT_START)  # the query thread cannot be stopped any other way
        say("ClickHouse ended before it listened; its error is above")
        return False

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set():
            os._exit(128 + signum)  # a second signal: the clean stop is stuck, leave now
        self.stopping.set()
        try:
            post(self.url, stop_statement())
        except OSError:
            os._exit(128 + signum)


def say(text: str) -> None:
    print(f"chdb_server: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.chdb_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="ClickHouse's data directory")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="where config.xml goes")
    parser.add_argument("--users", type=Path, help="ClickHouse's users file (users_xml)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")
    # Resolve before chdir: a relative data dir would otherwise move with the working dir.
    data = args.data.resolve()
    workdir = args.workdir.resolve()
    try:
        data.mkdir(parents=True, exist_ok=True)
        workdir.mkdir(parents=True, exist_ok=True)
        # ClickHouse reads the listener's settings from ./config.xml.
        users = None if args.users is None else args.users.resolve()
        (workdir / "config.xml").write_text(config_xml(args.host, args.port, users))
    except OSError as error:
        parser.error(f"cannot prepare {data} and {workdir}: {error}")
    os.chdir(workdir)
    return Server(args.host, args.port, data).run()


if __name__ == "__main__":
    sys.exit(main())
