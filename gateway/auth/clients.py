"""The OAuth clients livefold knows: one public client (no secret) shared by the web app and
the SDKs, which must use PKCE (S256); and confidential service clients an admin registers for
scripts and bots (the client credentials grant), one per service account.

Redirect URIs must match a registered one exactly, except that a native app or SDK waiting on
a loopback address may use any port (RFC 8252, section 7.3): `http://127.0.0.1/callback`
registered allows `http://127.0.0.1:53117/callback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.auth.passwords import password_matches
from livefold.settings import Settings

SCOPES = ("openid", "profile", "email", "offline_access")
GRANT_TYPES = ("authorization_code", "refresh_token")
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
SERVICE_GRANT_TYPE = "client_credentials"
SERVICE_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class PublicClient:
    """What authlib asks of a client (its ClientMixin), for a client without a secret."""

    client_id: str
    redirect_uris: tuple[str, ...]
    id_token_signed_response_alg: str = "RS256"  # OpenID Connect Registration's default

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return "openid profile"
        return " ".join(name for name in scope.split() if name in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris or any(
            _same_loopback(registered, redirect_uri) for registered in self.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


@dataclass(frozen=True)
class ServiceClient:
    """A confidential client: its id is its service account's user id, the subject of the
    tokens it gets; its secret is checked against the hash the accounts log keeps."""

    client_id: str
    secret_hash: str | None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return ""  # no user signs in: no OpenID Connect scopes

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return password_matches(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in SERVICE_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == SERVICE_GRANT_TYPE


def redirect_uris(settings: Settings) -> tuple[str, ...]:
    return settings.oauth_redirect_uris or (
        f"{settings.gateway_url}/auth/callback",
        "http://127.0.0.1/callback",
        "http://[::1]/callback",
    )


def registered_clients(settings: Settings) -> dict[str, PublicClient]:
    client = PublicClient(
        settings.oauth_client_id,
        redirect_uris(settings),
        settings.oauth_id_token_signed_response_alg,
    )
    return {client.client_id: client}


def _same_loopback(registered: str, requested: str) -> bool:
    try:
        mine, theirs = urlsplit(registered), urlsplit(requested)
        theirs.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return False
    return (
        mine.scheme == theirs.scheme == "http"
        and mine.hostname in LOOPBACK_HOSTS
        and mine.hostname == theirs.hostname
        and (mine.path or "/") == (theirs.path or "/")
        and mine.query == theirs.query
        and not theirs.fragment
        and not theirs.username
    )
