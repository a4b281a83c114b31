"""The object store (recordings, clips): any S3 API, the local S3Proxy by default."""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3
from minio import Minio

from livefold.settings import Settings


def object_store(settings: Settings, http_client: urllib3.PoolManager | None = None) -> Minio:
    endpoint, secure = _endpoint(settings)
    return Minio(
        endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.secret("s3_secret_key"),
        secure=secure,
        http_client=http_client,
    )


def _endpoint(settings: Settings) -> tuple[str, bool]:
    """host:port and whether to use TLS. LIVEFOLD_S3_ENDPOINT may also be an http(s) URL."""
    if "://" not in settings.s3:
        return settings.s3, settings.s3_secure
    url = urlsplit(settings.s3)
    if url.scheme not in ("http", "https") or not url.netloc or url.path.strip("/") or url.query:
        raise ValueError(
            f"LIVEFOLD_S3_ENDPOINT must be host:port or http(s)://host:port, not {settings.s3!r}"
        )
    return url.netloc, url.scheme == "https"
