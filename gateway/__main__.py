"""`python -m gateway`: serve the gateway with uvicorn on the settings' host and gateway port.

WebSockets use uvicorn's sans-I/O protocol (the hub writes frames to its transport, see
gateway/ws.py), offering permessage-deflate without server context takeover, so that a frame
is compressed once for all the sockets that take it (gateway/frames.py);
the listen backlog takes connection bursts; the open-files limit is raised to the hard one,
since every socket is a file.
"""

from __future__ import annotations

import logging
import resource
import sys

import uvicorn
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.auth.service import AuthService
from gateway.auth.service import routes as auth_routes
from gateway.frames import DeflateProtocol
from gateway.tls import tls_files
from livefold.settings import Settings

BACKLOG = 4096
MAX_FRAME_BYTES = 65_536  # client frames are small commands


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def app(settings: Settings) -> ASGIApp:
    """The gateway with livefold's own authorization server mounted (accounts, OAuth, OIDC)."""
    auth = AuthService(settings)
    return auth.around(create_app(settings, auth.verifier, auth_routes(settings, auth)))


def config(settings: Settings) -> uvicorn.Config:
    tls = tls_files(settings)
    return uvicorn.Config(
        app(settings),
        host=settings.host,
        port=settings.gateway_port,
        ws=DeflateProtocol,
        ws_per_message_deflate=True,
        ws_max_size=MAX_FRAME_BYTES,
        backlog=BACKLOG,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        ssl_certfile=None if tls is None else str(tls[0]),
        ssl_keyfile=None if tls is None else str(tls[1]),
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpx2"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    limit = raise_open_files_limit()
    settings = Settings()
    refused = settings.deployment_error("gateway")
    if refused is not None:
        sys.exit(refused)
    logging.getLogger("livefold.gateway").info(
        "gateway on %s (open files limit %d)", settings.gateway_url, limit
    )
    uvicorn.Server(config(settings)).run()


if __name__ == "__main__":
    main()
