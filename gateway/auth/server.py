"""livefold's OAuth 2.0 / OpenID Connect authorization server for local accounts, on authlib:
the authorization-code grant with PKCE (S256, required), the refresh-token grant with rotation,
the client-credentials grant for service accounts' confidential clients, and token revocation
(RFC 7009).

Where things live:
- authorization codes and refresh tokens are sealed and self-contained (`sealed_tokens`); the
  one-time use of each is recorded in the accounts log as a session event, and the fold decides
  in log order which use was first (`livefold.accounts`), so every gateway honours the same
  ones and a replay is caught even when it reaches another gateway;
- access tokens are ES256 JWTs, ID tokens RS256 or ES256 as the client registered (`tokens`),
  verified by anyone with the JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Error, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jwt
from starlette.responses import Response

from gateway.auth.account_service import AccountService
from gateway.auth.clients import SCOPES, PublicClient, ServiceClient, registered_clients
from gateway.auth.directory import Account, AccountDirectory
from gateway.auth.sealed_tokens import CODE, REFRESH, SealingKey
from gateway.auth.starlette_oauth import to_response
from gateway.auth.verifier import Verifier
from livefold.access.tokens import ROLES, AuthError, SigningKeys, issue_access_token
from livefold.settings import Settings

CODE_TTL_SECONDS = 60
ACCOUNT_WAIT_SECONDS = 3.0  # how long to wait for an account this gateway has not read yet


@dataclass(frozen=True)
class AuthorizationCode:
    """An opened code: what authlib's AuthorizationCodeMixin asks for."""

    grant_id: str
    user_id: str
    client_id: str
    redirect_uri: str | None
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: int

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class SessionToken:
    """An opened refresh token, or a session named by an access token (for revocation)."""

    user_id: str
    session_id: str
    client_id: str
    token_id: str = ""
    scope: str = ""
    expires_at: int = 0
    auth_time: int = 0

    def check_client(self, client: PublicClient) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return False


@dataclass(frozen=True)
class Grantee:
    """The user authlib hands from `authenticate_user` to the token generator, with the session
    the tokens belong to."""

    account: Account
    session_id: str
    token_id: str  # of the refresh token about to be issued
    expires_at: int  # the session's end, in epoch seconds
    auth_time: int
    nonce: str | None = None


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only, required of every authorization request: the one client is public."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    server: LivefoldAuthorizationServer

    def generate_authorization_code(self) -> str:
        request, now = self.request, int(time.time())
        data = request.payload.data
        claims = {
            "jti": uuid.uuid4().hex,
            "sub": request.user.user_id,
            "client_id": request.client.get_client_id(),
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope,
            "code_challenge": data["code_challenge"],
            "code_challenge_method": data["code_challenge_method"],
            "nonce": data.get("nonce"),
            "auth_time": now,
        }
        return self.server.sealing.seal(CODE, claims, now + CODE_TTL_SECONDS)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """Nothing to save: the code carries itself; its one use is recorded when redeemed."""

    def query_authorization_code(self, code: str, client: PublicClient) -> AuthorizationCode | None:
        try:
            claims = self.server.sealing.open(CODE, code)
        except AuthError:
            return None
        if claims.get("client_id") != client.get_client_id():
            return None
        return AuthorizationCode(
            grant_id=claims["jti"],
            user_id=claims["sub"],
            client_id=claims["client_id"],
            redirect_uri=claims.get("redirect_uri"),
            scope=claims.get("scope") or "",
            code_challenge=claims["code_challenge"],
            code_challenge_method=claims["code_challenge_method"],
            nonce=claims.get("nonce"),
            auth_time=int(claims["auth_time"]),
        )

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to delete: `authenticate_user` recorded the redemption in the log."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Grantee | None:
        """Record the redemption first; the log decides whether this was the code's first use,
        and the tokens then carry the roles as of that point in the log."""
        user_id = authorization_code.user_id
        if self.server.active_account(user_id) is None:
            return None
        session_id, token_id = uuid.uuid4().hex, uuid.uuid4().hex
        expires_at = int(time.time()) + self.server.settings.refresh_token_ttl_seconds
        started = self.server.accounts.start_session(
            user_id,
            session_id=session_id,
            client_id=authorization_code.client_id,
            grant_id=authorization_code.grant_id,
            token_id=token_id,
            expires_at=expires_at * 1000,
        )
        if not started:
            raise InvalidGrantError("authorization code already used")
        account = self.server.active_account(user_id)
        if account is None:
            return None
        return Grantee(
            account=account,
            session_id=session_id,
            token_id=token_id,
            expires_at=expires_at,
            auth_time=authorization_code.auth_time,
            nonce=authorization_code.nonce,
        )


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: LivefoldAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> SessionToken | None:
        # Whether this is the session's current token is for the log to say (authenticate_user
        # records the rotation): judged here, a gateway that has not read the latest rotation
        # yet would be wrong.
        try:
            return self.server.open_refresh_token(refresh_token)
        except AuthError:
            return None

    def authenticate_user(self, refresh_token: SessionToken) -> Grantee | None:
        """Spend the token in the log first: if another exchange of it came before, this one
        is a replay and the session has ended."""
        user_id, token_id = refresh_token.user_id, uuid.uuid4().hex
        if self.server.active_account(user_id) is None:
            raise InvalidGrantError("the account no longer exists")
        rotated = self.server.accounts.rotate(
            user_id, refresh_token.session_id, refresh_token.token_id, token_id
        )
        if not rotated:
            raise InvalidGrantError("refresh token already used or revoked; sign in again")
        account = self.server.active_account(user_id)
        if account is None:
            return None
        return Grantee(
            account=account,
            session_id=refresh_token.session_id,
            token_id=token_id,
            expires_at=refresh_token.expires_at,
            auth_time=refresh_token.auth_time,
        )

    def revoke_old_credential(self, refresh_token: SessionToken) -> None:
        """Nothing to do: `authenticate_user` spent it in the log."""


class ServiceGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """A script or bot's token, no browser: the client authenticates with its secret and the
    access token's subject is its service account (no session, no refresh token)."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class UnsupportedTokenType(OAuth2Error):  # type: ignore[misc]
    """RFC 7009, 2.2.1: an error response of RFC 6749, 5.2, so 400 (authlib's own is a 401)."""

    error = "unsupported_token_type"
    status_code = 400


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    server: LivefoldAuthorizationServer

    def check_params(self, request: OAuth2Request, client: PublicClient) -> None:
        hint = request.form.get("token_type_hint")
        if hint and hint not in self.SUPPORTED_TOKEN_TYPES:
            raise UnsupportedTokenType("token_type_hint must be access_token or refresh_token")
        super().check_params(request, client)

    def query_token(self, token_string: str, token_type_hint: str | None) -> SessionToken | None:
        try:
            return self.server.open_refresh_token(token_string)
        except AuthError:
            pass
        try:
            verified = self.server.verifier.verify_token(token_string)
        except AuthError:
            return None  # RFC 7009 2.2: an invalid token is answered like a revoked one
        session_id, client_id = verified.claims.get("sid"), verified.claims.get("client_id")
        if not verified.local or not isinstance(session_id, str):
            return None
        return SessionToken(verified.principal.user_id, session_id, str(client_id))

    def revoke_token(self, token: SessionToken, request: OAuth2Request) -> None:
        self.server.accounts.end_session(token.user_id, token.session_id, "revoked")


class LivefoldAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        settings: Settings,
        keys: SigningKeys,
        sealing: SealingKey,
        directory: AccountDirectory,
        accounts: AccountService,
        verifier: Verifier,
    ):
        super().__init__(scopes_supported=list(SCOPES))
        self.settings = settings
        self.keys = keys
        self.sealing = sealing
        self.directory = directory
        self.accounts = accounts
        self.verifier = verifier
        self.clients = registered_clients(settings)
        self.register_token_generator("default", self.generate_tokens)
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_grant(ServiceGrant)
        self.register_endpoint(Revocation)

    # ------------------------------------------------------------ what authlib asks for

    def query_client(self, client_id: str) -> PublicClient | ServiceClient | None:
        public = self.clients.get(client_id)
        if public is not None:
            return public
        account = self.directory.account(client_id)
        if account is None or not account.active:
            return None
        return ServiceClient(client_id, self.accounts.client_secret_hash(client_id))

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to store: the grant recorded the session event before the tokens were made,
        and the tokens themselves are self-contained."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if not isinstance(request, OAuth2Request):
            raise TypeError("build the request with gateway.auth.starlette_oauth.oauth2_request")
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no endpoint here takes JSON")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return to_response(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""

    # ------------------------------------------------------------ tokens

    def generate_tokens(
        self,
        grant_type: str,
        client: PublicClient | ServiceClient,
        user: Grantee | None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """`user` None: a service client's own token, for its service account."""
        scope, client_id = scope or "", client.get_client_id()
        account = user.account if user is not None else self.active_account(client_id)
        if account is None:
            raise InvalidGrantError("the account no longer exists")
        ttl = self.settings.access_token_ttl_seconds
        roles = frozenset({"viewer"}) | (account.global_roles() & ROLES)
        extra: dict[str, Any] = {"client_id": client_id, "scope": scope}
        if user is not None:
            extra["sid"] = user.session_id
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": issue_access_token(
                self.keys,
                user_id=account.user_id,
                roles=roles,
                issuer=self.settings.gateway_url,
                audience=self.settings.auth_audience,
                ttl_seconds=ttl,
                extra_claims=extra,
            ),
            "expires_in": ttl,
            "scope": scope,
        }
        if user is None:
            return token
        user_id = account.user_id
        if include_refresh_token:
            claims = {
                "sub": user_id,
                "sid": user.session_id,
                "jti": user.token_id,
                "client_id": client_id,
                "scope": scope,
                "auth_time": user.auth_time,
            }
            token["refresh_token"] = self.sealing.seal(REFRESH, claims, user.expires_at)
        if "openid" in scope.split() and isinstance(client, PublicClient):
            token["id_token"] = self.id_token(user, client, token["access_token"])
        return token

    def id_token(self, user: Grantee, client: PublicClient, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.gateway_url,
            "sub": user.account.user_id,
            "aud": client.get_client_id(),
            "iat": now,
            "exp": now + self.settings.access_token_ttl_seconds,
            "auth_time": user.auth_time,
            "sid": user.session_id,
            "at_hash": access_token_hash(access_token),
        }
        if user.nonce:
            claims["nonce"] = user.nonce
        algorithm = client.id_token_signed_response_alg
        key = self.keys.id_token_key(algorithm)
        header = {"alg": algorithm, "kid": str(key.kid), "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[algorithm])

    def open_refresh_token(self, token: str) -> SessionToken:
        claims = self.sealing.open(REFRESH, token)
        return SessionToken(
            user_id=str(claims["sub"]),
            session_id=str(claims["sid"]),
            client_id=str(claims["client_id"]),
            token_id=str(claims["jti"]),
            scope=str(claims.get("scope", "")),
            expires_at=int(claims["exp"]),
            auth_time=int(claims.get("auth_time", 0)),
        )

    def active_account(self, user_id: str) -> Account | None:
        account = self.directory.account(user_id) or self.directory.await_account(
            user_id, ACCOUNT_WAIT_SECONDS
        )
        return account if account is not None and account.active else None


def access_token_hash(access_token: str) -> str:
    """OpenID Connect Core 3.1.3.6: the left half of the token's SHA-256 (both RS256 and
    ES256 hash with it), base64url without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")
