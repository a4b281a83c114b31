"""Per-user data keys and the sealing of personal fields with them (crypto-shredding).

Personal fields go into the append-only log only sealed (AES-256-GCM) with their user's data
key; the key lives outside the log, in a `KeyStore`. Destroying the key erases every copy of
those fields at once, in the log, its replicas and its backups, while the log itself stays
whole and replays as before.

What a user writes for others to read is sealed with the same key where it enters the log
(`seal_text`, by the gateway's codec: streams/codec.py) and opened only to be judged (the
moderation fold's driver) and shown (the gateway): `TextOpener`. Destroying the key erases it
in the log and in whatever copied the sealed value (state topics, changelogs, ClickHouse).

Stores: `S3KeyStore` (a bucket every gateway shares: the default), `DirectoryKeyStore` (files
under the data dir, one machine). In production put the keys in a KMS or vault, behind the
same three methods, or at least a bucket without versioning: a kept old version of a key
object would undo its deletion.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from minio import Minio
from minio.error import S3Error

from livefold.settings import Settings
from livefold.storage import object_store

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"\x01"  # first byte of every sealed value: the layout below, version 1
_KEY_ID = re.compile(r"^dek-[0-9a-f]{32}$")


class KeyErased(Exception):
    """The data key does not exist (destroyed with its account): what it sealed is gone."""


class KeyStoreUnavailable(Exception):
    """The key store could not be asked; the key may well exist, so nothing is erased."""


class KeyStore(Protocol):
    def create(self) -> tuple[str, bytes]:
        """A new key: (key id, 32 random bytes)."""
        ...

    def get(self, key_id: str) -> bytes: ...

    def destroy(self, key_id: str) -> None:
        """Delete the key for good; destroying a key that is already gone is not an error."""
        ...


def new_key() -> tuple[str, bytes]:
    return f"dek-{uuid.uuid4().hex}", AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def checked_key_id(key_id: str) -> str:
    if not _KEY_ID.match(key_id):
        raise ValueError(f"malformed data key id {key_id!r}")
    return key_id


def seal(key: bytes, plaintext: bytes, context: str) -> bytes:
    """Encrypt and authenticate. `context` (e.g. "<user id>/profile") must be given again to
    open it, so a sealed value moved to another user or field does not open."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def unseal(key: bytes, sealed: bytes, context: str) -> bytes:
    if sealed[:1] != FORMAT or len(sealed) < 1 + NONCE_BYTES + 16:
        raise ValueError("not a sealed value (unknown format or truncated)")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, context.encode())
    except InvalidTag as error:
        raise ValueError("sealed value does not open with this key and context") from error


# Sealed text starts with NUL, which no text from outside holds (the gateway refuses control
# characters), then names its key: "\x00sealed:<key id>:<base64 of the sealed bytes>".
SEALED_TEXT = "\x00sealed:"
OPENED_KEPT = 50_000  # opened texts a TextOpener remembers


def seal_text(key_id: str, key: bytes, text: str) -> str:
    sealed = seal(key, text.encode(), f"{key_id}/text")
    return f"{SEALED_TEXT}{key_id}:{base64.b64encode(sealed).decode('ascii')}"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_TEXT)


class TextOpener:
    """Opens sealed texts with `key_of(key_id)` (a key store's `get`): a text whose key was
    destroyed, or that does not open, reads as None (erased); a text that is not sealed as it
    is. `open` raises KeyStoreUnavailable when the store cannot be asked; `opened` reads such a
    text as None for now. Opened texts are remembered until `forget`."""

    def __init__(self, key_of: Callable[[str], bytes]):
        self._key_of = key_of
        self._opened: dict[str, str | None] = {}
        self._hash_keys: dict[str, bytes] = {}  # sealed text -> its fingerprint key, as opened

    def open(self, value: str | None) -> str | None:
        if value is None or not value.startswith(SEALED_TEXT):
            return value
        opened = self._opened.get(value, "")
        if opened != "":
            return opened
        key_id, _, encoded = value[len(SEALED_TEXT) :].partition(":")
        try:
            key = self._key_of(checked_key_id(key_id))
            text: str | None = unseal(
                key, base64.b64decode(encoded, validate=True), f"{key_id}/text"
            ).decode()
        except (KeyErased, ValueError, binascii.Error):
            text = None
        if len(self._opened) >= OPENED_KEPT:
            self._opened.clear()
            self._hash_keys.clear()
        self._opened[value] = text
        if text is not None:
            self._hash_keys[value] = _fingerprint_key(key, key_id)
        return text

    def fingerprint(self, value: str, words: str) -> str:
        """What duplicate detection keeps of a sealed text (its folded `words`, moderation's):
        a hash keyed with the author's data key, so that nobody can test guesses against it
        without the key, nor at all once the key is destroyed (KeyErased then)."""
        hash_key = self._hash_keys.get(value)
        if hash_key is None:
            key_id = value[len(SEALED_TEXT) :].partition(":")[0]
            hash_key = _fingerprint_key(self._key_of(checked_key_id(key_id)), key_id)
        return hmac.new(hash_key, words.encode(), hashlib.sha256).hexdigest()[:32]

    def opened(self, value: Any) -> Any:
        """`value` (JSON: dicts, lists, strings) with every sealed text in it opened."""
        if isinstance(value, str):
            if not value.startswith(SEALED_TEXT):
                return value
            try:
                return self.open(value)
            except KeyStoreUnavailable:
                return None  # not remembered: it opens again once the store answers
        if isinstance(value, dict):
            return {name: self.opened(item) for name, item in value.items()}
        if isinstance(value, list):
            return [self.opened(item) for item in value]
        return value

    def forget(self) -> None:
        """Drop what was opened (a key was destroyed: its texts must read as erased now)."""
        self._opened.clear()
        self._hash_keys.clear()


def _fingerprint_key(key: bytes, key_id: str) -> bytes:
    return hmac.new(key, f"{key_id}/fingerprint".encode(), hashlib.sha256).digest()


class DirectoryKeyStore:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def create(self) -> tuple[str, bytes]:
        key_id, key = new_key()
        descriptor = os.open(self._path(key_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key_id, key

    def get(self, key_id: str) -> bytes:
        try:
            return self._path(key_id).read_bytes()
        except FileNotFoundError:
            raise KeyErased(key_id) from None

    def destroy(self, key_id: str) -> None:
        self._path(key_id).unlink(missing_ok=True)

    def _path(self, key_id: str) -> Path:
        return self.directory / f"{checked_key_id(key_id)}.key"


class S3KeyStore:
    """Keys as objects of one bucket, made on the first key stored. A missing bucket when
    reading is an error (a wrong LIVEFOLD_DATA_KEY_BUCKET), not every key erased."""

    def __init__(self, client: Minio, bucket: str, prefix: str = "data-keys/"):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def create(self) -> tuple[str, bytes]:
        key_id, key = new_key()
        try:
            self._put(key_id, key)
        except S3Error as error:
            if error.code != "NoSuchBucket":
                raise self._unavailable("cannot store a data key", error) from error
            self._make_bucket()
            self._put(key_id, key)
        except Exception as error:  # urllib3's network errors
            raise self._unavailable("cannot store a data key", error) from error
        return key_id, key

    def get(self, key_id: str) -> bytes:
        name = self._name(key_id)  # a malformed id is a ValueError, not the store being down
        try:
            response = self.client.get_object(self.bucket, name)
        except S3Error as error:
            if error.code == "NoSuchKey":
                raise KeyErased(key_id) from None
            raise self._unavailable("cannot read a data key", error) from error
        except Exception as error:
            raise self._unavailable("cannot read a data key", error) from error
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def destroy(self, key_id: str) -> None:
        name = self._name(key_id)
        try:
            self.client.remove_object(self.bucket, name)
        except S3Error as error:
            if error.code != "NoSuchKey":
                raise self._unavailable("cannot delete a data key", error) from error
        except Exception as error:
            raise self._unavailable("cannot delete a data key", error) from error

    def _put(self, key_id: str, key: bytes) -> None:
        self.client.put_object(self.bucket, self._name(key_id), io.BytesIO(key), len(key))

    def _name(self, key_id: str) -> str:
        return f"{self.prefix}{checked_key_id(key_id)}"

    def _make_bucket(self) -> None:
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as error:
            if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._unavailable("cannot create the data key bucket", error) from error

    def _unavailable(self, what: str, error: Exception) -> KeyStoreUnavailable:
        cause = error.code if isinstance(error, S3Error) else repr(error)
        return KeyStoreUnavailable(
            f"{what} in s3://{self.bucket}: {cause} (LIVEFOLD_S3_ENDPOINT, "
            "LIVEFOLD_DATA_KEY_BUCKET)"
        )


def key_store(settings: Settings) -> KeyStore:
    if settings.data_key_store == "s3":
        return S3KeyStore(object_store(settings), settings.data_key_bucket)
    if settings.data_key_store == "directory":
        return DirectoryKeyStore(settings.data_dir / "auth" / "data-keys")
    raise ValueError(
        f"LIVEFOLD_DATA_KEY_STORE must be 's3' or 'directory', not {settings.data_key_store!r}"
    )


class RecentKeys:
    """A key store's `get`, each key remembered for `ttl` seconds: judging a busy chat would
    otherwise ask the store once per message. A key destroyed meanwhile still opens texts in
    this process for at most `ttl` seconds; it only judges them (gateways, which show texts,
    forget at once: gateway/texts.py)."""

    def __init__(self, get: Callable[[str], bytes], ttl: float = 30.0, kept: int = 10_000):
        self._get = get
        self.ttl = ttl
        self.kept = kept
        self._keys: dict[str, tuple[bytes, float]] = {}

    def __call__(self, key_id: str) -> bytes:
        now = time.monotonic()
        known = self._keys.get(key_id)
        if known is not None and now - known[1] < self.ttl:
            return known[0]
        key = self._get(key_id)
        if len(self._keys) >= self.kept:
            self._keys.clear()
        self._keys[key_id] = (key, now)
        return key


def text_opener(settings: Settings) -> TextOpener:
    """How a process that judges texts (the fold workers, replay) opens them: with the store."""
    return TextOpener(RecentKeys(key_store(settings).get))
