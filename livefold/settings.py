"""The one place configuration is read: environment variables prefixed LIVEFOLD_, with defaults
that run the whole stack on this machine under ./.livefold/.

Pointing a part at production means setting its URL (e.g. LIVEFOLD_KAFKA_BOOTSTRAP): the
supervisor then does not start a local server for it.
"""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVEFOLD_", frozen=True)

    host: str = "127.0.0.1"
    data_dir: Path = Path(".livefold")
    # Downloads (jars) live apart from data so that tests with a temporary data dir reuse them.
    cache_dir: Path = Path(".livefold/cache")
    java: str = "java"
    mvn: str = "mvn"

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "1g"
    kafka_bootstrap_servers: str | None = None

    clickhouse_port: int = 8123
    clickhouse_url: str | None = None
    clickhouse_database: str = "livefold"

    s3_port: int = 9000
    s3_endpoint: str | None = None
    s3_access_key: str = "livefold"
    s3_secret_key: str = "livefold-local-secret"
    s3_secure: bool = False
    s3_buckets: tuple[str, ...] = ("livefold-recordings", "livefold-clips")

    registry_port: int = 8081
    registry_url: str | None = None

    gateway_port: int = 8000
    # The address clients use for the gateway (behind a load balancer: its https URL); it is
    # also the issuer of livefold's own access tokens.
    public_url: str | None = None
    auth_audience: str = "livefold"
    access_token_ttl_seconds: int = 900
    # External OpenID Connect providers whose access tokens are accepted (issuer URLs).
    oidc_issuers: tuple[str, ...] = ()

    topic_partitions: int = 12
    topic_replication_factor: int = 1

    # Reactions viewers may send; the codec rejects other kinds (JSON list in the environment).
    reaction_kinds: tuple[str, ...] = ("heart", "fire", "laugh", "clap", "wow", "sad", "hype")

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.host}:{self.kafka_port}"

    @property
    def clickhouse(self) -> str:
        return self.clickhouse_url or f"http://{self.host}:{self.clickhouse_port}"

    @property
    def s3(self) -> str:
        return self.s3_endpoint or f"{self.host}:{self.s3_port}"

    @property
    def registry(self) -> str:
        return self.registry_url or f"http://{self.host}:{self.registry_port}"

    @property
    def gateway_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.gateway_port}"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"
