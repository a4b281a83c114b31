"""Signing in to livefold: OAuth 2.0 authorization code with PKCE (S256), refresh, revocation.

    oauth = OAuth.discover("https://live.example.org")        # the issuer: the gateway's URL
    session = sign_in(oauth)                                  # opens a browser, waits on loopback
    client = Livefold("https://live.example.org", auth=session)

Or step by step: `Pkce.new()`, `oauth.authorization_url(...)`, the user signs in, the redirect
brings a code, `oauth.exchange_code(...)` gives `Tokens`, and `Session` keeps them fresh
(refresh tokens rotate: each is good for one refresh, so a session refreshes one at a time).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import httpx

from livefold_sdk.errors import OAuthError, TransportError
from livefold_sdk.loopback import AuthorizationResponse, LoopbackReceiver

DEFAULT_CLIENT_ID = "livefold-web"
DEFAULT_SCOPE = "openid profile"
REFRESH_MARGIN = 30.0  # seconds before expiry a token counts as expired
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

__all__ = [
    "DEFAULT_CLIENT_ID",
    "AuthorizationResponse",
    "LoopbackReceiver",
    "OAuth",
    "OAuthEndpoints",
    "Pkce",
    "Session",
    "Tokens",
    "challenge_of",
    "sign_in",
]


def challenge_of(verifier: str) -> str:
    """The S256 code challenge of a verifier: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair (RFC 7636): the verifier stays with the client, the challenge travels."""

    verifier: str
    challenge: str
    method: str = "S256"

    @classmethod
    def new(cls, length: int = 64) -> Pkce:
        if not 43 <= length <= 128:
            raise ValueError("a PKCE verifier has 43 to 128 characters")
        verifier = "".join(secrets.choice(_UNRESERVED) for _ in range(length))
        return cls(verifier, challenge_of(verifier))


@dataclass(frozen=True)
class OAuthEndpoints:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None

    @classmethod
    def from_document(cls, document: Any) -> OAuthEndpoints:
        """From an OpenID provider's discovery document."""
        if not isinstance(document, dict):
            raise OAuthError(200, "invalid_discovery", "the discovery document is not an object")
        missing = [
            name
            for name in ("issuer", "authorization_endpoint", "token_endpoint")
            if not isinstance(document.get(name), str)
        ]
        if missing:
            raise OAuthError(200, "invalid_discovery", f"discovery document lacks {missing}")
        return cls(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            revocation_endpoint=document.get("revocation_endpoint"),
            userinfo_endpoint=document.get("userinfo_endpoint"),
        )

    @classmethod
    def of_issuer(cls, issuer: str) -> OAuthEndpoints:
        """livefold's own endpoints under an issuer URL, without asking for discovery."""
        base = issuer.rstrip("/")
        return cls(
            issuer=base,
            authorization_endpoint=f"{base}/oauth/authorize",
            token_endpoint=f"{base}/oauth/token",
            revocation_endpoint=f"{base}/oauth/revoke",
            userinfo_endpoint=f"{base}/oauth/userinfo",
        )


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: float  # epoch seconds
    refresh_token: str | None = None
    scope: str = ""
    id_token: str | None = None

    @classmethod
    def from_response(cls, body: Any, now: float | None = None) -> Tokens:
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise OAuthError(200, "invalid_response", "the token response has no access_token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        return cls(
            access_token=body["access_token"],
            expires_at=(time.time() if now is None else now) + lifetime,
            refresh_token=body.get("refresh_token"),
            scope=str(body.get("scope") or ""),
            id_token=body.get("id_token"),
        )

    def expired(self, margin: float = REFRESH_MARGIN) -> bool:
        return time.time() + margin >= self.expires_at


def _discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _checked(response: httpx.Response) -> Any:
    body = _json_of(response)
    if response.status_code >= 400:
        if isinstance(body, dict):
            error = str(body.get("error") or "http_error")
            description = str(body.get("error_description") or body.get("reason") or "")
            raise OAuthError(response.status_code, error, description)
        raise OAuthError(response.status_code, "http_error", str(body)[:500])
    return body


class OAuth:
    """One authorization server (livefold's, or an OIDC provider's) and the public client."""

    def __init__(
        self, endpoints: OAuthEndpoints, client_id: str = DEFAULT_CLIENT_ID, timeout: float = 30
    ):
        self.endpoints = endpoints
        self.client_id = client_id
        self.timeout = timeout

    @classmethod
    def discover(
        cls, issuer: str, client_id: str = DEFAULT_CLIENT_ID, timeout: float = 30
    ) -> OAuth:
        try:
            response = httpx.get(_discovery_url(issuer), timeout=timeout)
        except httpx.HTTPError as error:
            raise TransportError(f"discovery at {issuer} failed: {error!r}") from error
        return cls(OAuthEndpoints.from_document(_checked(response)), client_id, timeout)

    @classmethod
    async def adiscover(
        cls, issuer: str, client_id: str = DEFAULT_CLIENT_ID, timeout: float = 30
    ) -> OAuth:
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                response = await http.get(_discovery_url(issuer))
        except httpx.HTTPError as error:
            raise TransportError(f"discovery at {issuer} failed: {error!r}") from error
        return cls(OAuthEndpoints.from_document(_checked(response)), client_id, timeout)

    def authorization_url(
        self,
        redirect_uri: str,
        pkce: Pkce,
        state: str,
        scope: str = DEFAULT_SCOPE,
        nonce: str | None = None,
    ) -> str:
        """Where to send the user's browser to sign in."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
        }
        if nonce is not None:
            params["nonce"] = nonce
        separator = "&" if "?" in self.endpoints.authorization_endpoint else "?"
        return f"{self.endpoints.authorization_endpoint}{separator}{urlencode(params)}"

    # ------------------------------------------------------------ token endpoint

    def code_form(self, code: str, verifier: str, redirect_uri: str) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }

    def refresh_form(self, refresh_token: str) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }

    def _post(self, url: str, form: dict[str, str]) -> Any:
        try:
            return _checked(httpx.post(url, data=form, timeout=self.timeout))
        except httpx.HTTPError as error:
            raise TransportError(f"POST {url} failed: {error!r}") from error

    async def _apost(self, url: str, form: dict[str, str]) -> Any:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                return _checked(await http.post(url, data=form))
        except httpx.HTTPError as error:
            raise TransportError(f"POST {url} failed: {error!r}") from error

    def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> Tokens:
        body = self._post(
            self.endpoints.token_endpoint, self.code_form(code, verifier, redirect_uri)
        )
        return Tokens.from_response(body)

    async def aexchange_code(self, code: str, verifier: str, redirect_uri: str) -> Tokens:
        form = self.code_form(code, verifier, redirect_uri)
        return Tokens.from_response(await self._apost(self.endpoints.token_endpoint, form))

    def refresh(self, refresh_token: str) -> Tokens:
        body = self._post(self.endpoints.token_endpoint, self.refresh_form(refresh_token))
        return Tokens.from_response(body)

    async def arefresh(self, refresh_token: str) -> Tokens:
        body = await self._apost(self.endpoints.token_endpoint, self.refresh_form(refresh_token))
        return Tokens.from_response(body)

    def _revocation(self, token: str) -> tuple[str, dict[str, str]]:
        if self.endpoints.revocation_endpoint is None:
            raise OAuthError(0, "unsupported", "the authorization server has no revocation")
        return self.endpoints.revocation_endpoint, {"token": token, "client_id": self.client_id}

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (ending its session) or an access token's session."""
        self._post(*self._revocation(token))

    async def arevoke(self, token: str) -> None:
        await self._apost(*self._revocation(token))


class Session:
    """Tokens kept fresh: `access_token()` (or `await aaccess_token()`) refreshes when the
    access token is about to expire; `on_refresh` sees each new set (to persist it)."""

    def __init__(
        self,
        oauth: OAuth,
        tokens: Tokens,
        on_refresh: Callable[[Tokens], None] | None = None,
    ):
        self.oauth = oauth
        self.tokens = tokens
        self.on_refresh = on_refresh
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None

    @property
    def refreshable(self) -> bool:
        return self.tokens.refresh_token is not None

    def _take(self, fresh: Tokens) -> Tokens:
        if fresh.refresh_token is None:  # the server kept the old refresh token
            fresh = replace(fresh, refresh_token=self.tokens.refresh_token)
        self.tokens = fresh
        if self.on_refresh is not None:
            self.on_refresh(fresh)
        return fresh

    def _stale(self, seen: Tokens, force: bool) -> bool:
        # Someone else may have refreshed while we waited for the lock: then theirs is fresh.
        return self.tokens is seen and (force or seen.expired())

    def access_token(self, force_refresh: bool = False) -> str:
        seen = self.tokens
        if not (force_refresh or seen.expired()) or seen.refresh_token is None:
            return seen.access_token
        with self._lock:
            if self._stale(seen, force_refresh) and self.tokens.refresh_token is not None:
                self._take(self.oauth.refresh(self.tokens.refresh_token))
            return self.tokens.access_token

    async def aaccess_token(self, force_refresh: bool = False) -> str:
        seen = self.tokens
        if not (force_refresh or seen.expired()) or seen.refresh_token is None:
            return seen.access_token
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if self._stale(seen, force_refresh) and self.tokens.refresh_token is not None:
                self._take(await self.oauth.arefresh(self.tokens.refresh_token))
            return self.tokens.access_token

    def sign_out(self) -> None:
        """Revoke the session at the server (its refresh token stops working)."""
        self.oauth.revoke(self.tokens.refresh_token or self.tokens.access_token)


def sign_in(
    oauth: OAuth,
    open_browser: Callable[[str], object] = webbrowser.open,
    *,
    scope: str = DEFAULT_SCOPE,
    timeout: float = 300.0,
    host: str = "127.0.0.1",
) -> Session:
    """The whole sign-in of a native app or script (RFC 8252): a loopback receiver on a free
    port, the browser sent to the authorization URL, the code exchanged with the PKCE verifier."""
    pkce, state = Pkce.new(), secrets.token_urlsafe(16)
    with LoopbackReceiver(host) as receiver:
        open_browser(oauth.authorization_url(receiver.redirect_uri, pkce, state, scope))
        answer = receiver.wait(timeout)
    if answer.error is not None:
        raise OAuthError(400, answer.error, answer.error_description or "")
    if answer.state != state:
        raise OAuthError(400, "invalid_state", "the redirect's state is not the one sent")
    if answer.code is None:
        raise OAuthError(400, "invalid_response", "the redirect carries no code")
    return Session(oauth, oauth.exchange_code(answer.code, pkce.verifier, receiver.redirect_uri))
