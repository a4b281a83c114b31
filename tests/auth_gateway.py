"""The gateway with livefold's authorization server mounted, as one process for the auth tests:
`python -m tests.auth_gateway`, configured by LIVEFOLD_* variables like `python -m gateway`.

It is the gateway's own app (gateway/app.py) with the auth routes, the auth service's
`Verifier` behind the gateway's `TokenBackend`, and `/whoami` standing for any protected route.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway.app import create_app as gateway_app
from gateway.auth.service import AuthService, routes
from infra.service import Port, RunningService, Service, free_port
from livefold.settings import Settings
from tests.servers import REPO, environment_of


@requires("authenticated")
async def whoami(request: Request) -> Response:
    principal = request.user.principal
    body = {"user_id": principal.user_id, "roles": sorted(principal.roles)}
    return JSONResponse({**body, "expires_at": principal.expires_at})


def create_app(settings: Settings) -> ASGIApp:
    service = AuthService(settings)
    extra = [*routes(settings, service), Route("/whoami", whoami)]
    return service.around(gateway_app(settings, service.verifier, extra))


@dataclass
class AuthGateway(Service):
    settings: Settings = field(default_factory=Settings)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.auth_gateway"]

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        return {**environment_of(self.settings), "PYTHONPATH": f"{REPO}{os.pathsep}{path or ''}"}

    def is_ready(self) -> bool:
        # uvicorn listens only once the lifespan has read the accounts topic to its end.
        url = f"http://{self.settings.host}:{self.settings.gateway_port}/oauth/jwks.json"
        return httpx.get(url, timeout=2.0).status_code == 200

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.gateway_port}"


@contextmanager
def auth_gateway(settings: Settings, name: str) -> Iterator[AuthGateway]:
    """One gateway process on `settings.gateway_port`, stopped (SIGTERM) on leaving."""
    service = AuthGateway(
        name=name,
        workdir=settings.data_dir / name,
        ports=[Port(settings.gateway_port, "LIVEFOLD_GATEWAY_PORT")],
        settings=settings,
    )
    log_path = settings.data_dir / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        running = RunningService(service, log)
        running.start()
        try:
            yield service
        finally:
            running.stop()


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.gateway_port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )


def gateway_settings(stack: Settings, data_dir: Path, **overrides: Any) -> Settings:
    """The stack's settings for one more gateway: its own port and data dir (its keys)."""
    changes = {"data_dir": data_dir, "gateway_port": free_port(), **overrides}
    return stack.with_secrets().model_copy(update=changes)


def grant_admin(gateway: AuthGateway, user_id: str) -> None:
    """The operator's way to the first admin: the admin command, appending to the log."""
    command = [sys.executable, "-m", "gateway.auth.admin", "grant", user_id, "admin"]
    done = subprocess.run(
        command, env=gateway.environment(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"granted admin for {user_id}" in done.stdout


if __name__ == "__main__":
    main()
