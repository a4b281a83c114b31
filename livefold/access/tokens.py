"""Access tokens: short-lived JWTs signed with an ES256 key that livefold generates once and
keeps under the data dir (production: mount the key files from a secret store). ID tokens are
signed with that key or an RS256 one kept beside it (OpenID Core requires RS256 support), as
each client registered; the JWKS publishes both.

Header `typ` is `at+jwt` (RFC 9068). Claims: `sub` (user id), `roles` (global roles: viewer,
streamer, admin), `iss`, `aud`, `iat`, `exp`, `jti`; an `nbf` is honoured when present.
Per-stream rights (owner, moderator) are not in the token: they change while a token lives,
so the gateway reads them from stream and moderation state.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from joserfc.util import urlsafe_b64decode

from livefold.install_secrets import load_or_create_key_file
from streams import json_input

ROLES = frozenset({"viewer", "streamer", "admin"})
ALGORITHM = "ES256"  # of access tokens
ID_TOKEN_ALGORITHMS = ("RS256", ALGORITHM)
RSA_KEY_BITS = 2048
MAX_TOKEN_CHARS = 16_384
ACCESS_TOKEN_TYPE = "at+jwt"
CLOCK_SKEW_SECONDS = 30  # an issuer's clock ahead of ours: its fresh token's nbf


class AuthError(Exception):
    """The caller could not be authenticated; the message says why (safe to show)."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str]
    expires_at: int | None = None  # the token's `exp` (epoch seconds); None: never
    session_id: str | None = None  # the `sid` of an own token: the sign-in it belongs to

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def expired(self, now: float | None = None) -> bool:
        moment = time.time() if now is None else now
        return self.expires_at is not None and self.expires_at <= moment


class SigningKeys:
    """The private signing keys (created on first use) and the public JWKS derived from them:
    `key` (ES256) at `path`, `rsa_key` (RS256, for ID tokens only) beside it."""

    def __init__(self, path: Path):
        self.path = path
        self.key = self._load_or_create()
        self.rsa_key = self._load_or_create_rsa()

    def _load_or_create(self) -> ECKey:
        def generate() -> dict[str, Any]:
            kid = uuid.uuid4().hex
            key = ECKey.generate_key(
                "P-256", parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}
            )
            return key.as_dict(private=True)

        return ECKey.import_key(load_or_create_key_file(self.path, generate))

    def _load_or_create_rsa(self) -> RSAKey:
        def generate() -> dict[str, Any]:
            kid = uuid.uuid4().hex
            key = RSAKey.generate_key(
                RSA_KEY_BITS, parameters={"kid": kid, "use": "sig", "alg": "RS256"}
            )
            return key.as_dict(private=True)

        path = self.path.with_name(f"{self.path.stem}-rsa{self.path.suffix}")
        return RSAKey.import_key(load_or_create_key_file(path, generate))

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def id_token_key(self, algorithm: str) -> ECKey | RSAKey:
        if algorithm not in ID_TOKEN_ALGORITHMS:
            raise ValueError(f"ID tokens are signed with {' or '.join(ID_TOKEN_ALGORITHMS)}")
        return self.rsa_key if algorithm == "RS256" else self.key

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in (self.key, self.rsa_key)]}

    def key_set(self) -> KeySet:
        """The keys access tokens are verified with (the ES256 one: an ID token is no access
        token, whatever its claims)."""
        return KeySet([self.key])


def issue_access_token(
    keys: SigningKeys,
    *,
    user_id: str,
    roles: frozenset[str] | set[str],
    issuer: str,
    audience: str,
    ttl_seconds: int = 900,
    now: float | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {sorted(ROLES)}")
    issued_at = int(time.time() if now is None else now)
    claims = {
        **(extra_claims or {}),
        "sub": user_id,
        "roles": sorted(roles),
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": ALGORITHM, "kid": keys.kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(header, claims, keys.key)


def verify_access_token(
    token: str,
    key_set: KeySet,
    *,
    issuer: str,
    audience: str,
    now: float | None = None,
    typed: bool = True,
) -> Principal:
    """Check signature, type, issuer, audience, validity window; raise AuthError with the
    reason. `typed`: the header must say `at+jwt` (RFC 9068), as livefold's own tokens do, so
    no other JWT signed with the key passes; an external provider's may also say `JWT` or
    nothing."""
    unverified(token)  # joserfc's own JSON decoding would take any nesting
    try:
        decoded = jwt.decode(token, key_set, algorithms=[ALGORITHM, "RS256"])
    except (JoseError, ValueError) as error:
        raise AuthError(f"invalid token: {error.__class__.__name__}") from error
    kind = str(decoded.header.get("typ", "")).lower().removeprefix("application/")
    if kind != ACCESS_TOKEN_TYPE and (typed or kind not in ("", "jwt")):
        raise AuthError(f"not an access token (typ {kind or 'missing'}, not {ACCESS_TOKEN_TYPE})")
    claims = decoded.claims
    moment = time.time() if now is None else now
    not_before = claims.get("nbf")
    if not_before is not None and (
        not isinstance(not_before, int | float) or not_before > moment + CLOCK_SKEW_SECONDS
    ):
        raise AuthError("token not valid yet (nbf)")
    audiences = claims.get("aud")
    if isinstance(audiences, str):
        audiences = [audiences]
    if claims.get("iss") != issuer:
        raise AuthError("token from an unknown issuer")
    if audience not in (audiences or []):
        raise AuthError("token not meant for this service (audience)")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= moment:
        raise AuthError("token expired")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token has no subject")
    roles = frozenset(r for r in claims.get("roles", ["viewer"]) if r in ROLES)
    session_id = claims.get("sid")
    return Principal(
        subject,
        roles or frozenset({"viewer"}),
        expires_at=claims["exp"],
        session_id=session_id if isinstance(session_id, str) else None,
    )


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before any check (to pick the keys to check with), both through the
    gateway's one JSON decoding step: a token is client input like any body."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > MAX_TOKEN_CHARS:
        raise AuthError("malformed token: expected a JWT")
    try:
        compact = token.encode("ascii")
        head, body, _ = compact.split(b".")
        header = json_input.decode(urlsafe_b64decode(head), "header")
        claims = json_input.decode(urlsafe_b64decode(body), "claims")
        jws.extract_compact(compact)
    except (JoseError, ValueError, UnicodeError) as error:
        raise AuthError("malformed token: expected a JWT") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed token: its header or claims are not a JSON object")
    return header, claims
