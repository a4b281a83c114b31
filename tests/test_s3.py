"""The object store as livefold runs it (S3Proxy), through the minio client and plain HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from minio import Minio
from minio.error import S3Error

from infra import s3proxy
from infra.service import running
from livefold.install_secrets import keys_dir
from livefold.settings import Settings
from livefold.storage import object_store
from tests.servers import log_to

MiB = 1024 * 1024


@pytest.fixture
def store(stack: Settings) -> Minio:
    return object_store(stack)


@pytest.fixture
def bucket(stack: Settings) -> str:
    return stack.s3_buckets[0]


def put(store: Minio, bucket: str, name: str, data: bytes, **options: object) -> None:
    store.put_object(bucket, name, io.BytesIO(data), len(data), **options)  # type: ignore[arg-type]


def read(store: Minio, bucket: str, name: str) -> bytes:
    response = store.get_object(bucket, name)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}/"


def test_the_configured_buckets_exist(stack: Settings, store: Minio) -> None:
    assert set(stack.s3_buckets) <= {b.name for b in store.list_buckets()}


def test_objects_can_be_put_read_listed_and_deleted(store: Minio, bucket: str) -> None:
    prefix = unique_prefix()
    put(store, bucket, f"{prefix}a.txt", b"first", content_type="text/plain")
    put(store, bucket, f"{prefix}b/c.json", b'{"n": 2}', content_type="application/json")

    assert read(store, bucket, f"{prefix}a.txt") == b"first"
    assert store.stat_object(bucket, f"{prefix}b/c.json").content_type == "application/json"
    listed = store.list_objects(bucket, prefix=prefix, recursive=True)
    assert [o.object_name for o in listed] == [f"{prefix}a.txt", f"{prefix}b/c.json"]

    store.remove_object(bucket, f"{prefix}a.txt")

    listed = store.list_objects(bucket, prefix=prefix, recursive=True)
    assert [o.object_name for o in listed] == [f"{prefix}b/c.json"]
    with pytest.raises(S3Error) as missing:
        read(store, bucket, f"{prefix}a.txt")
    assert missing.value.code == "NoSuchKey"


def test_a_large_upload_goes_in_parts_and_reads_back_whole(store: Minio, bucket: str) -> None:
    data = os.urandom(17 * MiB)
    name = f"{unique_prefix()}recording.ts"

    # Unknown length: the client streams it as a multipart upload of 5 MiB parts.
    result = store.put_object(bucket, name, io.BytesIO(data), -1, part_size=5 * MiB)

    assert result.etag is not None and result.etag.endswith("-4"), result.etag
    assert store.stat_object(bucket, name).size == len(data)
    assert hashlib.sha256(read(store, bucket, name)).digest() == hashlib.sha256(data).digest()


def test_a_presigned_url_serves_the_object_over_plain_http(store: Minio, bucket: str) -> None:
    name = f"{unique_prefix()}clip.mp4"
    put(store, bucket, name, b"not really a video", content_type="video/mp4")

    url = store.presigned_get_object(bucket, name, expires=timedelta(minutes=5))
    response = httpx.get(url)

    assert response.status_code == 200
    assert response.content == b"not really a video"
    assert response.headers["content-type"] == "video/mp4"


def test_an_unsigned_or_tampered_url_is_refused(store: Minio, bucket: str) -> None:
    name = f"{unique_prefix()}private.txt"
    put(store, bucket, name, b"secret")
    url = store.presigned_get_object(bucket, name, expires=timedelta(minutes=5))
    signature = url.rsplit("=", 1)[1]
    tampered = url[: -len(signature)] + ("0" if signature[0] != "0" else "1") + signature[1:]

    assert httpx.get(url.split("?")[0]).status_code == 403
    assert httpx.get(tampered).status_code == 403


def test_a_wrong_secret_key_is_refused(stack: Settings) -> None:
    wrong = Settings(**(stack.model_dump() | {"s3_secret_key": "not-the-secret"}))

    with pytest.raises(S3Error) as refused:
        object_store(wrong).list_buckets()
    assert refused.value.code == "SignatureDoesNotMatch"


def test_the_endpoint_may_be_given_as_a_url(stack: Settings) -> None:
    as_url = Settings(**(stack.model_dump() | {"s3_endpoint": f"http://{stack.s3}"}))

    assert set(stack.s3_buckets) <= {b.name for b in object_store(as_url).list_buckets()}


def test_an_endpoint_with_a_path_is_refused(stack: Settings) -> None:
    with_path = Settings(**(stack.model_dump() | {"s3_endpoint": "http://example.test/s3"}))

    with pytest.raises(ValueError, match="LIVEFOLD_S3_ENDPOINT"):
        object_store(with_path)


def test_objects_and_their_metadata_survive_a_restart(scratch: Settings) -> None:
    logs = log_to(scratch.data_dir / "logs")
    bucket = scratch.s3_buckets[0]
    with running([s3proxy.service(scratch)], output=logs):
        put(
            object_store(scratch),
            bucket,
            "kept.txt",
            b"still here",
            content_type="text/plain",
            metadata={"stream": "42"},
        )

    with running([s3proxy.service(scratch)], output=logs):
        store = object_store(scratch)
        assert read(store, bucket, "kept.txt") == b"still here"
        stat = store.stat_object(bucket, "kept.txt")
        assert stat.content_type == "text/plain"
        assert stat.metadata is not None and stat.metadata["x-amz-meta-stream"] == "42"


OLD_S3_SECRET = "livefold-local-secret"  # the constant the repository once held


def test_s3_credentials_are_the_installs_own_and_its_files_private(
    stack: Settings, tmp_path: Path
) -> None:
    secret = stack.secret("s3_secret_key")
    assert secret not in (OLD_S3_SECRET, Settings(data_dir=tmp_path).secret("s3_secret_key"))
    with pytest.raises(S3Error) as refused:
        object_store(stack.model_copy(update={"s3_secret_key": OLD_S3_SECRET})).list_buckets()
    assert refused.value.code == "SignatureDoesNotMatch"

    service = s3proxy.service(stack)
    assert stat.S_IMODE(service.config_file.stat().st_mode) == 0o600
    # Objects are plain files there (the per-user data keys among them).
    assert stat.S_IMODE(service.workdir.stat().st_mode) == 0o700
    stored = keys_dir(stack.data_dir) / "s3_secret_key.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
