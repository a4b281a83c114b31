"""External OpenID Connect providers, known by issuer URL: their signing keys, found through
discovery (`<issuer>/.well-known/openid-configuration` names the `jwks_uri`).

Keys are fetched on first use and kept; a token naming a key id not among them (the provider
rotated its keys) fetches them again, at most once per `REFETCH_INTERVAL`, so a stream of
tokens with made-up key ids cannot turn into a stream of requests to the provider.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from livefold.access.tokens import AuthError

DISCOVERY_PATH = "/.well-known/openid-configuration"
REFETCH_INTERVAL = 30.0
TIMEOUT = 5.0


class ExternalIssuer:
    def __init__(self, issuer: str, http: httpx.Client, refetch_interval: float = REFETCH_INTERVAL):
        self.issuer = issuer
        self.http = http
        self.refetch_interval = refetch_interval
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def key_set(self, kid: str | None) -> KeySet:
        """Keys to verify a token whose header names `kid`."""
        keys = self._keys
        if keys is not None and (kid is None or _has_kid(keys, kid)):
            return keys
        with self._lock:
            due = time.monotonic() - self._fetched_at >= self.refetch_interval
            if due and (self._keys is None or not _has_kid(self._keys, kid)):
                self._fetched_at = time.monotonic()  # a failed fetch waits its turn too
                self._keys = self._fetch()
            if self._keys is None:
                raise AuthError(f"keys of token issuer {self.issuer} unavailable; retry later")
            return self._keys

    def _fetch(self) -> KeySet:
        metadata = self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH)
        if metadata.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0, section 4.3: the document must name its issuer.
            raise AuthError(f"{self.issuer} published discovery for another issuer")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise AuthError(f"{self.issuer} publishes no jwks_uri")
        try:
            return KeySet.import_key_set(self._get_json(jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise AuthError(f"{self.issuer} publishes unusable keys: {error}") from error

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url, timeout=TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise AuthError(f"cannot reach token issuer {self.issuer}: {error}") from error
        if not isinstance(document, dict):
            raise AuthError(f"{url} did not answer with a JSON object")
        return document


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    return kid is None or any(key.kid == kid for key in keys.keys)
