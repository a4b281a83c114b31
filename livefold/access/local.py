"""Tokens livefold's own authorization server issued, checked with the local signing key (kept
under the data dir, created by whichever process needs it first)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from joserfc.jwk import KeySet

from livefold.access.tokens import Principal, SigningKeys, verify_access_token
from livefold.settings import Settings


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
