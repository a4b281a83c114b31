"""The gateway's Starlette app: every route, the middleware, and the lifespan that starts the
process's long-lived parts (gateway/runtime.py). `python -m gateway` serves it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp

from gateway import (
    analytics,
    chat,
    chat_history,
    costream,
    event_status,
    follows,
    media,
    moderation,
    notifications,
    openapi,
    payments,
    polls,
    quizzes,
    reactions,
    refunds,
    replay,
    stream_keys,
    streams,
    tips,
    web_app,
)
from gateway.auth import openapi as auth_openapi
from gateway.auth.backend import TOKEN_PATH, TokenBackend, Verifier, on_auth_error
from gateway.errors import ApiError, on_api_error, on_http_error, on_unexpected
from gateway.limits import BodyLimit
from gateway.metrics import METRICS_PATH, RequestTimer, metrics_endpoint
from gateway.reads import Read
from gateway.runtime import Gateway, gateway_of
from gateway.texts import SealedTexts
from gateway.writes import Write, by_socket_name, endpoint
from gateway.ws import SocketTap, websocket_endpoint
from livefold.access.local import LocalVerifier
from livefold.settings import Settings

RESOURCES = (
    streams, chat, chat_history, reactions, polls, quizzes, tips, moderation, follows,
    costream, media, replay, event_status, analytics, notifications,
)  # fmt: skip
WRITES: list[Write] = [write for module in RESOURCES for write in getattr(module, "WRITES", [])]
READS: list[Read] = [read for module in RESOURCES for read in getattr(module, "READS", [])]


async def live(request: Request) -> Response:
    """Liveness: 200 while every part of the process works (the state feed, the accounts
    follower); 503 names what stopped. A supervisor restarts a process that stays at 503."""
    failures = gateway_of(request).failures()
    return JSONResponse({"live": not failures, "failures": failures}, 503 if failures else 200)


async def ready(request: Request) -> Response:
    """Readiness: 200 once this process has read the state topics up to where they were at its
    start, while it is live."""
    gateway = gateway_of(request)
    is_ready = gateway.ready and not gateway.failures()
    body = {"ready": is_ready, "state_records": gateway.store.records}
    return JSONResponse(body, 200 if is_ready else 503)


async def openapi_document(request: Request) -> Response:
    """Every HTTP route this app serves (the auth server's too, when mounted)."""
    settings = gateway_of(request).settings
    routes = request.app.routes
    declared = {**auth_openapi.OPERATIONS, **refunds.OPERATIONS, **stream_keys.OPERATIONS}
    schemas = auth_openapi.SCHEMAS
    document = openapi.document(WRITES, READS, settings.gateway_url, routes, declared, schemas)
    return JSONResponse(document)


def routes(extra: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    return [
        Route("/health", ready),  # the readiness probe's first address, kept for clients
        Route("/health/ready", ready),
        Route("/health/live", live),
        Route(METRICS_PATH, metrics_endpoint),
        Route("/openapi.json", openapi_document),
        WebSocketRoute("/ws", websocket_endpoint),
        *(Route(write.route, endpoint(write), methods=[write.method]) for write in WRITES),
        *(Route(read.route, read.handler, methods=["GET"]) for read in READS),
        *payments.routes(),
        *refunds.routes(),
        *stream_keys.routes(),
        *extra,  # e.g. the authorization server's routes
        *web_app.routes(),  # last: the web app's pages, when built
    ]


def create_app(
    settings: Settings,
    verifier: Verifier | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    texts: SealedTexts | None = None,
    vitals: Mapping[str, Callable[[], bool]] | None = None,
) -> ASGIApp:
    """`vitals`: other threads the process needs, by name, each True while alive."""
    gateway = Gateway(settings, verifier or LocalVerifier(settings), texts)
    gateway.vitals.update(vitals or {})
    gateway.payments = payments.ProviderFlow.from_settings(settings)
    gateway.socket_writes = by_socket_name(WRITES)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()
            await gateway.payments.aclose()

    app = Starlette(
        routes=routes(extra_routes),
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.gateway_cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "traceparent"],
                max_age=600,
            ),
            Middleware(BodyLimit, limit=settings.gateway_max_body_bytes),
            Middleware(RequestTimer),
            Middleware(
                AuthenticationMiddleware,
                backend=TokenBackend(gateway.verifier, frozenset({METRICS_PATH, TOKEN_PATH})),
                on_error=on_auth_error,
            ),
        ],
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return SocketTap(app)
