"""`python -m gateway`: serve the gateway with uvicorn on the settings' host and gateway port.

WebSockets use uvicorn's sans-I/O protocol (the hub writes frames to its transport, see
gateway/ws.py), offering permessage-deflate without server context takeover, so that a frame
is compressed once for all the sockets that take it (gateway/frames.py);
the listen backlog takes connection bursts; the open-files limit is raised to the hard one,
since every socket is a file. HTTP runs on `LimitedHttpProtocol` (gateway/uvicorn_private.py:
bounded request heads, a deadline to send a request); forwarded headers are believed from
`gateway_trusted_proxies` only; the access log, when on, never prints an `access_token`.
"""

from __future__ import annotations

import logging
import re
import resource
import sys
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.auth.service import AuthService
from gateway.auth.service import routes as auth_routes
from gateway.texts import SealedTexts
from gateway.tls import tls_files
from gateway.uvicorn_private import DeflateProtocol, LimitedHttpProtocol
from livefold.settings import Settings

BACKLOG = 4096
MAX_FRAME_BYTES = 65_536  # client frames are small commands
_ACCESS_TOKEN = re.compile(r"(access_token=)[^&#\s\"]*")


class RedactedTokens(logging.Filter):
    """uvicorn logs a request's path with its query, where a socket may carry its token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(a) if isinstance(a, str) else a for a in record.args)
        return True


REDACTED_TOKENS = RedactedTokens()


def redacted(text: str) -> str:
    return _ACCESS_TOKEN.sub(r"\1[redacted]", text)


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
    texts = SealedTexts(auth.directory)
    vitals = {"accounts follower": auth.follower.alive}
    routes = auth_routes(settings, auth)
    return auth.around(create_app(settings, auth.verifier, routes, texts, vitals))


def config(settings: Settings) -> uvicorn.Config:
    tls = tls_files(settings)
    proxies: dict[str, Any] = {
        "proxy_headers": bool(settings.gateway_trusted_proxies),
        "forwarded_allow_ips": list(settings.gateway_trusted_proxies) or None,
    }
    served = uvicorn.Config(
        app(settings),
        host=settings.host,
        port=settings.gateway_port,
        http=LimitedHttpProtocol.configured(settings),
        h11_max_incomplete_event_size=settings.gateway_max_header_bytes,
        timeout_keep_alive=settings.gateway_keep_alive_seconds,
        **proxies,
        ws=DeflateProtocol,
        ws_per_message_deflate=True,
        ws_max_size=MAX_FRAME_BYTES,
        backlog=BACKLOG,
        lifespan="on",
        access_log=settings.gateway_access_log,
        log_level="warning",
        timeout_graceful_shutdown=5,
        ssl_certfile=None if tls is None else str(tls[0]),
        ssl_keyfile=None if tls is None else str(tls[1]),
    )
    for name in ("uvicorn.access", "uvicorn.error"):  # the latter logs socket handshakes
        logger = logging.getLogger(name)
        logger.addFilter(REDACTED_TOKENS)
        if settings.gateway_access_log:
            logger.setLevel(logging.INFO)
    return served


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
