"""The authorization server as the gateway mounts it: `AuthService(settings)` builds the parts,
its `lifespan` boots the accounts fold (reading the accounts topic to its end) before the app
serves, and `routes(settings, service)` lists the endpoints.

    service = AuthService(settings)
    app = Starlette(routes=[*routes(settings, service), ...], lifespan=service.lifespan)
    # or, around the gateway's app, whose lifespan is its own:
    app = service.around(create_app(settings, service.verifier, routes(settings, service)))

Keys under `settings.data_dir / "auth"`: the signing keys (ES256 for access tokens, plus RS256
for ID tokens) and the sealing key of codes and refresh tokens. Gateways that serve one issuer
must share them all (one data dir, or the files mounted from a secret store). Users' data keys
live in the key store (`data_keys`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.account_routes import account_routes
from gateway.auth.account_service import AccountService
from gateway.auth.bearer import BearerGuard
from gateway.auth.directory import AccountDirectory
from gateway.auth.follower import AccountsFollower
from gateway.auth.oauth_routes import oauth_routes
from gateway.auth.sealed_tokens import SealingKey
from gateway.auth.server import LivefoldAuthorizationServer
from gateway.auth.throttle import AuthLimits
from gateway.auth.verifier import VerifiedToken, Verifier
from livefold.access.tokens import SigningKeys
from livefold.data_keys import KeyStore, key_store
from livefold.settings import Settings
from streams.codec import Codec
from streams.producer import EventProducer

log = logging.getLogger(__name__)


class AuthService:
    def __init__(
        self,
        settings: Settings,
        *,
        producer: EventProducer | None = None,
        codec: Codec | None = None,
        keys: KeyStore | None = None,
        http: httpx.Client | None = None,
    ):
        self.settings = settings
        auth_dir = settings.data_dir / "auth"
        self.keys = SigningKeys(auth_dir / "signing-key.json")
        self.sealing = SealingKey(auth_dir / "sealing-key.json")
        self.data_keys = keys or key_store(settings)
        self.directory = AccountDirectory(self.data_keys)
        self.codec = codec or (producer.codec if producer else Codec.from_settings(settings))
        self._owns_producer = producer is None
        self.producer = producer or EventProducer(settings, self.codec)
        self.follower = AccountsFollower(settings, self.codec, self.directory, self.producer)
        self.accounts = AccountService(
            self.directory, self.data_keys, self.producer, self.follower.catch_up
        )
        self.verifier = Verifier(settings, self.keys, self.directory, http)
        self.server = LivefoldAuthorizationServer(
            settings, self.keys, self.sealing, self.directory, self.accounts, self.verifier
        )
        self.guard = BearerGuard(self.verifier, settings.gateway_url)
        self.limits = AuthLimits(settings)
        _warn_if_insecure(settings.gateway_url)

    async def bearer(self, request: Request) -> VerifiedToken:
        return await self.guard(request)

    def start(self) -> None:
        self.follower.start()
        self.verifier.warm_up()

    def stop(self) -> None:
        self.follower.stop()
        if self._owns_producer:
            self.producer.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        await run_in_threadpool(self.start)
        try:
            yield
        finally:
            await run_in_threadpool(self.stop)

    def around(self, app: ASGIApp) -> ASGIApp:
        """`app` with this service started before the app's own start-up and stopped after its
        shutdown, for an app whose lifespan is already taken (the gateway's)."""

        async def with_service(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                await app(scope, receive, send)
                return

            async def receive_starting_first() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await run_in_threadpool(self.start)  # a failure fails the app's start-up
                return message

            async def send_stopping_last(message: Message) -> None:
                if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                    await run_in_threadpool(self.stop)
                await send(message)

            await app(scope, receive_starting_first, send_stopping_last)

        return with_service


def routes(settings: Settings, service: AuthService) -> list[BaseRoute]:
    """Every auth endpoint, to mount at the root of the gateway app (the issuer's URL)."""
    if service.settings is not settings and service.settings != settings:
        raise ValueError("routes(settings, service): the service was built with other settings")
    return [*oauth_routes(service), *account_routes(service)]


def _warn_if_insecure(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "::1", "localhost"):
        log.warning(
            "the issuer %s is neither https nor loopback: OAuth refuses it; set "
            "LIVEFOLD_PUBLIC_URL to the https URL clients use",
            url,
        )
