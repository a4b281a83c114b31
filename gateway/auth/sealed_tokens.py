"""Authorization codes and refresh tokens as sealed, self-contained values: their claims
encrypted and authenticated (JWE, "dir" + A256GCM) with a symmetric key that every gateway
shares, kept beside the signing key (data_dir/auth/sealing-key.json; production: mounted from
a secret store).

Self-contained, so any gateway can redeem what another issued without a shared code table;
opaque to clients and never confusable with an access token. What may be used only once (a
code, a refresh token) is recorded in the accounts log: see `livefold.accounts` sessions.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from livefold.access.tokens import AuthError
from livefold.install_secrets import load_or_create_key_file

CODE = "code"
REFRESH = "refresh"
_HEADER = {"alg": "dir", "enc": "A256GCM"}


class SealingKey:
    def __init__(self, path: Path):
        def generate() -> dict[str, Any]:
            key = OctKey.generate_key(256, parameters={"kid": uuid.uuid4().hex})
            return key.as_dict(private=True)

        self.key = OctKey.import_key(load_or_create_key_file(path, generate))

    def seal(self, purpose: str, claims: dict[str, Any], expires_at: int) -> str:
        content = {**claims, "purpose": purpose, "exp": expires_at}
        payload = json.dumps(content, separators=(",", ":")).encode()
        return jwe.encrypt_compact({**_HEADER, "kid": str(self.key.kid)}, payload, self.key)

    def open(self, purpose: str, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a sealed value made for `purpose`; AuthError if it is not one, or
        has expired."""
        try:
            plaintext = jwe.decrypt_compact(token, self.key).plaintext
            claims = json.loads(plaintext or b"")
        except (JoseError, ValueError, TypeError) as error:
            raise AuthError(f"not a valid {purpose}") from error
        if not isinstance(claims, dict) or claims.get("purpose") != purpose:
            raise AuthError(f"not a valid {purpose}")
        expires_at = claims.get("exp")
        if not isinstance(expires_at, int) or expires_at <= (time.time() if now is None else now):
            raise AuthError(f"{purpose} expired")
        return claims
