"""Who is calling: `Verifier.verify(token) -> Principal`, the one check every endpoint and
WebSocket uses, for livefold's own access tokens and those of the external OpenID Connect
providers named in `settings.oidc_issuers`.

Checking a signature is most of what a request costs the gateway, so an own token that passed
is remembered (by its exact text, until it expires) and only its session is checked again.
Tokens are refused once their session has ended (signed out, revoked, a replayed refresh
token) or their account was deleted, and their holder's global roles are the account's as the
accounts log says now (a role revoked after the token was issued is gone), as soon as this
gateway has read that from the log; `recheck` applies the same rule to a principal a socket
holds, and `watch` tells the gateway whose account changed (gateway/ws.py). External tokens are
trusted for who, not for what: their holder is a viewer plus whatever roles an admin granted
that identity here (claims like "roles" from another issuer are ignored). External identities
get user ids of their own, `ext-<issuer hash>-<sub>`, so no provider can mint the id of a local
account.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from gateway.auth.directory import AccountDirectory
from gateway.auth.oidc import ExternalIssuer
from livefold.access.tokens import (
    ROLES,
    AuthError,
    Principal,
    SigningKeys,
    unverified,
    verify_access_token,
)
from livefold.settings import Settings

log = logging.getLogger(__name__)
RECENT_TOKENS = 20_000


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    claims: dict[str, Any]
    issuer: str
    local: bool


def external_user_id(issuer: str, subject: str) -> str:
    return f"ext-{hashlib.sha256(issuer.encode()).hexdigest()[:12]}-{subject}"


class Verifier:
    def __init__(
        self,
        settings: Settings,
        keys: SigningKeys,
        directory: AccountDirectory | None = None,
        http: httpx.Client | None = None,
    ):
        self.issuer = settings.gateway_url
        self.audience = settings.auth_audience
        self.keys = keys
        self.directory = directory
        client = http or httpx.Client(follow_redirects=False)
        self.external = {url: ExternalIssuer(url, client) for url in settings.oidc_issuers}
        self._recent: dict[str, VerifiedToken] = {}  # own tokens whose signature passed

    def warm_up(self) -> None:
        """Fetch the providers' keys now, at boot, rather than while a request waits."""
        for provider in self.external.values():
            try:
                provider.key_set(None)
            except AuthError as error:
                log.warning("OpenID provider %s not reachable yet: %s", provider.issuer, error)

    def verify(self, token: str) -> Principal:
        return self.verify_token(token).principal

    def verify_token(self, token: str) -> VerifiedToken:
        recent = self._recent.get(token)
        if recent is not None and not recent.principal.expired():
            return self._as_now(recent)
        header, claims = unverified(token)
        issuer = claims.get("iss")
        if issuer == self.issuer:
            principal = verify_access_token(
                token, self.keys.key_set(), issuer=self.issuer, audience=self.audience
            )
            own = VerifiedToken(principal, claims, self.issuer, local=True)
            checked = self._as_now(own)
            if principal.expires_at is not None:
                self._remember(token, own)
            return checked
        provider = self.external.get(issuer) if isinstance(issuer, str) else None
        if provider is None:
            raise AuthError("token from an unknown issuer")
        kid = header.get("kid")
        keys = provider.key_set(kid if isinstance(kid, str) else None)
        verified = verify_access_token(
            token, keys, issuer=provider.issuer, audience=self.audience, typed=False
        )
        user_id = external_user_id(provider.issuer, verified.user_id)
        viewer = Principal(user_id, frozenset({"viewer"}), expires_at=verified.expires_at)
        return VerifiedToken(self.recheck(viewer), claims, provider.issuer, local=False)

    def _remember(self, token: str, verified: VerifiedToken) -> None:
        recent = self._recent
        recent.pop(token, None)
        recent[token] = verified
        if len(recent) > RECENT_TOKENS:
            del recent[next(iter(recent))]  # the least recently verified

    def recheck(self, principal: Principal) -> Principal:
        """`principal` as the accounts log says now: AuthError once its session ended or its
        account was deleted; else with the account's current global roles."""
        if self.directory is None:
            return principal
        user_id = principal.user_id
        account = self.directory.account(user_id)
        if account is not None and account.status == "deleted":
            raise AuthError("the account was deleted")
        session_id = principal.session_id
        if session_id is not None and self.directory.session_ended(user_id, session_id):
            raise AuthError("the session ended (signed out or revoked); sign in again")
        if account is None:
            return principal
        roles = frozenset({"viewer"}) | (account.global_roles() & ROLES)
        return principal if roles == principal.roles else replace(principal, roles=roles)

    def watch(self, listener: Callable[[str], None]) -> None:
        """Call `listener(user_id)` (on the accounts follower's thread) after each event of
        the accounts log this process folds: sessions, roles, deletions."""
        if self.directory is not None:
            self.directory.watch(listener)

    def _as_now(self, verified: VerifiedToken) -> VerifiedToken:
        principal = self.recheck(verified.principal)
        if principal is verified.principal:
            return verified
        return replace(verified, principal=principal)
