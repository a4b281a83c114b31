"""Authentication for the gateway: a Starlette AuthenticationBackend over one pluggable
`Verifier` (token -> Principal). HTTP sends `Authorization: Bearer <token>`; a WebSocket sends
`?access_token=<token>` or its first frame (`{"op": "auth", "token": ...}`, see gateway/ws.py).

A bad HTTP token is refused with 401 and the reason. A bad WebSocket token must be refused
after the handshake (a close code and reason reach the client; a refused handshake has neither),
so the backend leaves the reason in the scope (`AUTH_ERROR`) and the socket closes with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from livefold.access.tokens import AuthError, Principal

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
