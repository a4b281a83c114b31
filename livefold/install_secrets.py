"""Secrets made once per install and kept with the gateway's keys, under `<data_dir>/auth/`
(the directory 0700, each file 0600): the local servers' credentials (ClickHouse users, S3,
the schema registry's writer) and the sandbox payment provider's webhook secret.

A setting that names the secret (e.g. LIVEFOLD_S3_SECRET_KEY) takes precedence; these files
are what a local install uses when none is set, so no secret is a constant in the repository.
Every process of one install reads the same file, since they share the data dir.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "auth"


def load_or_create_key_file(path: Path, generate: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The JSON key kept in `path`, made by `generate` the first time.

    Processes starting together all end up with the one key: each writes a private (0600) temp
    file and hard-links it into place, which only the first link does, and never half-written.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(generate(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    loaded = json.loads(path.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} does not hold a JSON key")
    return loaded


def install_secret(data_dir: Path, name: str) -> str:
    """The secret `name` of the install at `data_dir`, random (256 bits) the first time."""
    path = keys_dir(data_dir) / f"{name}.json"
    key = load_or_create_key_file(path, lambda: {"secret": secrets.token_urlsafe(32)})
    secret = key.get("secret")
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"{path} holds no secret; remove it to make a new one")
    return secret


def vapid_keys(data_dir: Path) -> dict[str, str]:
    """This install's VAPID key pair for Web Push (RFC 8292), made the first time:
    `private_pem` (PKCS#8, P-256) and `public_key` (the uncompressed point, base64url, what a
    browser's `pushManager.subscribe` takes as `applicationServerKey`)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def generate() -> dict[str, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"private_pem": pem.decode(), "public_key": base64url(point)}

    loaded = load_or_create_key_file(keys_dir(data_dir) / "vapid.json", generate)
    return {"private_pem": str(loaded["private_pem"]), "public_key": str(loaded["public_key"])}


def webhook_secret(data_dir: Path, webhook_id: str) -> str:
    """The secret a webhook's deliveries are signed with: derived from the install's secret
    and the webhook's id, so the log never holds it and every process computes the same."""
    key = install_secret(data_dir, "webhooks").encode()
    return hmac.new(key, webhook_id.encode(), hashlib.sha256).hexdigest()


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
