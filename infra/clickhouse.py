"""ClickHouse for the local stack: the real server, from the chdb-core wheel (`infra.chdb_server`).

No package or download beyond the Python dependencies: the wheel embeds ClickHouse 26.9 and its
HTTP interface, which clickhouse-connect and production code use as they would a cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from clickhouse_connect.driver import Client
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.exceptions import DatabaseError

from infra import chdb_server
from infra.errors import InfraError
from infra.service import Port, Service, write_private
from livefold.analytics_store import connect
from livefold.settings import Settings

# The child runs in its work dir; it imports `infra` from this checkout.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ClickHouseService(Service):
    host: str = "127.0.0.1"
    port: int = 8123
    database: str = "livefold"
    # livefold's user and the analysts' read-only one: (name, password).
    app_user: tuple[str, str] = ("livefold", "")
    analyst_user: tuple[str, str] = ("analyst", "")
    # How long a graceful KILL may take before SIGTERM follows (the server needs < 1.5 s).
    stop_grace: float = 10.0

    @property
    def url(self) -> str:
        return chdb_server.local_url(self.host, self.port)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def users_file(self) -> Path:
        return self.workdir.resolve() / "users.xml"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        users = chdb_server.users_xml(self.database, self.app_user, self.analyst_user)
        write_private(self.users_file, users)

    def client(self, connect_timeout: float = 10.0, send_receive_timeout: float = 300.0) -> Client:
        user, password = self.app_user
        return connect(
            self.url,
            username=user,
            password=password,
            connect_timeout=connect_timeout,
            send_receive_timeout=send_receive_timeout,
        )

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "infra.chdb_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir.resolve()),
            "--workdir",
            str(self.workdir.resolve()),
            "--users",
            str(self.users_file),
        ]

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        user, password = self.app_user
        return {
            "PYTHONPATH": f"{SOURCE_ROOT}{os.pathsep}{path}" if path else str(SOURCE_ROOT),
            "LIVEFOLD_CLICKHOUSE_USER": user,
            "LIVEFOLD_CLICKHOUSE_PASSWORD": password,
        }

    def is_ready(self) -> bool:
        if httpx.get(f"{self.url}/ping", timeout=2.0).text.strip() != "Ok.":
            return False
        client = self.client(connect_timeout=2.0, send_receive_timeout=5.0)
        try:
            # And ours: another server that took the port after the port check is not ready
            # (our child then exits, and `exit_error` names the port).
            data_path = str(client.command(chdb_server.DATA_PATH_QUERY))
            return client.command("SELECT 1") == 1 and Path(data_path) == self.data_dir.resolve()
        finally:
            client.close()

    def after_ready(self) -> None:
        client = self.client()
        try:
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self.database)}")
        except DatabaseError as error:
            raise InfraError(
                f"clickhouse: cannot create database {self.database!r} "
                f"({str(error).splitlines()[0]}); set LIVEFOLD_CLICKHOUSE_DATABASE to another name"
            ) from error
        finally:
            client.close()

    def request_stop(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(httpx.HTTPError):
            statement = chdb_server.stop_statement()
            httpx.post(f"{self.url}/", content=statement, timeout=5.0, auth=self.app_user)
        try:
            process.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            # The server's SIGTERM handler tries the same KILL once more, then exits.
            process.send_signal(signal.SIGTERM)

    def exit_error(self, returncode: int) -> InfraError:
        if returncode == chdb_server.PORT_UNAVAILABLE:
            return InfraError(
                f"clickhouse: port {self.port} on {self.host} is already in use; "
                "stop what holds it or set LIVEFOLD_CLICKHOUSE_PORT to another port"
            )
        if returncode == chdb_server.DATA_DIR_IN_USE:
            return InfraError(
                f"clickhouse: another ClickHouse process uses {self.data_dir}; stop it "
                "(`make stop`) or set LIVEFOLD_DATA_DIR to another directory"
            )
        return super().exit_error(returncode)

    def urls(self) -> dict[str, str]:
        return {"clickhouse": self.url}


def service(settings: Settings) -> ClickHouseService:
    return ClickHouseService(
        name="clickhouse",
        workdir=settings.data_dir / "clickhouse",
        ports=[Port(settings.clickhouse_port, "LIVEFOLD_CLICKHOUSE_PORT")],
        host=settings.host,
        port=settings.clickhouse_port,
        database=settings.clickhouse_database,
        app_user=(settings.clickhouse_user, settings.secret("clickhouse_password")),
        analyst_user=(
            settings.clickhouse_analyst_user,
            settings.secret("clickhouse_analyst_password"),
        ),
    )
