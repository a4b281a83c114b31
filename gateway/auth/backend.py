"""Authentication for the gateway: a Starlette AuthenticationBackend over one pluggable
`Verifier` (token -> Principal). HTTP sends `Authorization: Bearer <token>`; a WebSocket sends
`?access_token=<token>` or its first frame (`{"op": "auth", "token": ...}`, see gateway/ws.py).

A bad HTTP token is refused with 401 and the reason. A bad WebSocket token must be refused
after the handshake (a close code and reason reach the client; a refused handshake has neither),
so the backend leaves the reason in the scope (`AUTH_ERROR`) and the socket closes with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from joserfc.jwk import KeySet
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from gateway.auth.tokens import AuthError, Principal, SigningKeys, verify_access_token
from livefold.settings import Settings

AUTH_ERROR = "livefold.auth_error"


class Verifier(Protocol):
    """Turns an access token into who holds it, or raises AuthError with the reason; and tells
    an open socket when what its holder may do has changed (gateway/auth/verifier.py)."""

    def verify(self, token: str) -> Principal: ...

    def recheck(self, principal: Principal) -> Principal:
        """The principal as of now, or AuthError once its session or account has ended."""
        ...

    def watch(self, listener: Callable[[str], None]) -> None:
        """Have `listener(user_id)` called, from any thread, when that user's account changed."""
        ...


def signing_key_path(settings: Settings) -> Path:
    return settings.data_dir / "auth" / "signing-key.json"


def load_signing_keys(path: Path, attempts: int = 50) -> SigningKeys:
    """The key, created by whichever process comes first: two gateways starting together race
    to create it, and the loser reads what the winner is writing."""
    for _ in range(attempts - 1):
        try:
            return SigningKeys(path)
        except (FileExistsError, ValueError):
            time.sleep(0.02)
    return SigningKeys(path)


class LocalVerifier:
    """Tokens issued by livefold's own authorization server (signed with the local key)."""

    def __init__(self, settings: Settings, keys: SigningKeys | None = None):
        self.keys = keys or load_signing_keys(signing_key_path(settings))
        self.key_set: KeySet = self.keys.key_set()
        self.issuer = settings.gateway_url
        self.audience = settings.auth_audience

    def verify(self, token: str) -> Principal:
        return verify_access_token(token, self.key_set, issuer=self.issuer, audience=self.audience)

    def recheck(self, principal: Principal) -> Principal:
        return principal  # no accounts log here: the token is all there is

    def watch(self, listener: Callable[[str], None]) -> None:
        """Nothing to watch without an accounts log."""


class Caller(BaseUser):
    def __init__(self, principal: Principal):
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.user_id

    @property
    def identity(self) -> str:
        return self.principal.user_id


TOKEN_PATH = "/oauth/token"  # its confidential clients authenticate with HTTP Basic (RFC 6749)


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


class TokenBackend(AuthenticationBackend):
    def __init__(self, verifier: Verifier, own_credentials: frozenset[str] = frozenset()):
        """`own_credentials`: paths whose endpoint checks an Authorization header of its own
        (the metrics scraper's token is no access token)."""
        self.verifier = verifier
        self.own_credentials = own_credentials

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        if conn.scope["path"] in self.own_credentials:
            return None
        websocket = conn.scope["type"] == "websocket"
        try:
            token = bearer_token(conn)
            if token is None and websocket:
                token = conn.query_params.get("access_token")
            if token is None:
                return None
            principal = self.verifier.verify(token)
        except AuthError as error:
            if websocket:
                conn.scope[AUTH_ERROR] = str(error)
                return None
            raise AuthenticationError(str(error)) from error
        return AuthCredentials(["authenticated", *sorted(principal.roles)]), Caller(principal)


def on_auth_error(_conn: HTTPConnection, error: Exception) -> Response:
    body = {"error": "unauthorized", "reason": str(error)}
    return JSONResponse(body, 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
