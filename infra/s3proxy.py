"""S3Proxy 2.7: the S3 API over a directory of plain files (its filesystem-nio2 backend).

Path-style requests only (no virtual hosts), AWS signature v2 or v4, presigned URLs included;
multipart uploads are assembled into one file on completion.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio

from infra.errors import InfraError
from infra.java import JavaService
from infra.service import Port, write_private
from livefold.settings import Settings

LOGBACK_CONFIG = Path(__file__).resolve().parent / "s3proxy" / "logback.xml"
# Measured here: about 125 MB resident when idle, 165 MB after a 17 MiB multipart upload
# (G1 or the default initial heap: 140-190 MB). A small initial heap is what keeps it low.
JVM_FLAGS = ["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


@dataclass
class S3ProxyService(JavaService):
    jars = "s3proxy"

    host: str = "127.0.0.1"
    port: int = 9000
    access_key: str = "livefold"
    secret_key: str = ""  # the install's own (Settings.secret), never a constant
    buckets: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.workdir.resolve() / "s3proxy.conf"

    @property
    def buckets_dir(self) -> Path:
        """One directory per bucket, one file per object."""
        return self.workdir.resolve() / "buckets"

    def prepare(self) -> None:
        for value, setting in (
            (self.access_key, "LIVEFOLD_S3_ACCESS_KEY"),
            (self.secret_key, "LIVEFOLD_S3_SECRET_KEY"),
        ):
            if not value or not value.isascii() or not value.isprintable():
                raise InfraError(f"S3 credentials must be printable ASCII; set {setting}")
        super().prepare()
        # Objects are plain files (the per-user data keys among them): only this user reads them.
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        self.buckets_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.config_file, self.properties())

    def properties(self) -> str:
        properties = {
            "s3proxy.endpoint": self.endpoint,
            "s3proxy.authorization": "aws-v2-or-v4",
            "s3proxy.identity": self.access_key,
            "s3proxy.credential": self.secret_key,
            # The deprecated `filesystem` provider warns at every start.
            "jclouds.provider": "filesystem-nio2",
            "jclouds.filesystem.basedir": str(self.buckets_dir),
            # Required by jclouds, unused by a local directory.
            "jclouds.identity": "local",
            "jclouds.credential": "local",
        }
        return "".join(f"{key}={_escape(value)}\n" for key, value in properties.items())

    def command(self) -> list[str]:
        return self.java_command(
            [*JVM_FLAGS, f"-Dlogback.configurationFile={LOGBACK_CONFIG}"],
            "org.gaul.s3proxy.Main",
            "--properties",
            str(self.config_file),
        )

    def client(self, http_client: urllib3.PoolManager | None = None) -> Minio:
        return Minio(
            f"{self.host}:{self.port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=http_client,
        )

    def is_ready(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=0.5):
            pass
        # minio's own client retries a refused connection for seconds: probe without retries.
        probe = urllib3.PoolManager(timeout=urllib3.Timeout(connect=0.5, read=2.0), retries=False)
        try:
            self.client(probe).list_buckets()
        finally:
            probe.clear()
        return True

    def after_ready(self) -> None:
        store = self.client()
        for bucket in self.buckets:
            try:
                if not store.bucket_exists(bucket):
                    store.make_bucket(bucket)
            except ValueError as error:
                raise InfraError(f"{error}; fix the names in LIVEFOLD_S3_BUCKETS") from error

    def urls(self) -> dict[str, str]:
        return {"s3": self.endpoint}


def _escape(value: str) -> str:
    """A value as java.util.Properties reads it back."""
    escaped = value.replace("\\", "\\\\")
    return "\\" + escaped if escaped.startswith(" ") else escaped


def service(settings: Settings) -> S3ProxyService:
    return S3ProxyService(
        name="s3proxy",
        workdir=settings.data_dir / "s3proxy",
        ports=[Port(settings.s3_port, "LIVEFOLD_S3_PORT")],
        host=settings.host,
        port=settings.s3_port,
        access_key=settings.s3_access_key,
        secret_key=settings.secret("s3_secret_key"),
        buckets=settings.s3_buckets,
        java=settings.java,
        mvn=settings.mvn,
        cache_dir=settings.cache_dir,
    )
