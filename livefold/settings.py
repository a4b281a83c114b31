"""The one place configuration is read: environment variables prefixed LIVEFOLD_, with defaults
that run the whole stack on this machine under ./.livefold/.

Pointing a part at production means setting its URL (e.g. LIVEFOLD_KAFKA_BOOTSTRAP): the
supervisor then does not start a local server for it.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from livefold.install_secrets import install_secret

# Secrets: a setting left unset is the install's own, generated once (livefold.install_secrets).
SECRETS = (
    "clickhouse_password",
    "clickhouse_analyst_password",
    "s3_secret_key",
    "registry_password",
    "payment_sandbox_secret",
    "gateway_metrics_token",
    "kafka_sasl_password",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVEFOLD_", frozen=True)

    host: str = "127.0.0.1"
    # A production deployment (also implied by a public_url that is not loopback): the
    # sandbox payment provider, plaintext Kafka and made-up secrets are refused.
    production: bool = False
    data_dir: Path = Path(".livefold")
    # Downloads (jars) live apart from data so that tests with a temporary data dir reuse them.
    cache_dir: Path = Path(".livefold/cache")
    java: str = "java"
    mvn: str = "mvn"

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "1g"
    kafka_bootstrap_servers: str | None = None
    # How every Kafka client (producers, consumers, Faust, admin, the registry, the SDK helper)
    # authenticates: PLAINTEXT is for the local broker on loopback only (see `refusals`).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = "livefold"
    kafka_sasl_password: str | None = None
    kafka_ssl_ca_file: Path | None = None  # the brokers' CA (SASL_SSL); None: the system's

    clickhouse_port: int = 8123
    clickhouse_url: str | None = None
    clickhouse_database: str = "livefold"
    # livefold's own user (reads and writes its database) and the analysts' read-only one.
    clickhouse_user: str = "livefold"
    clickhouse_password: str | None = None
    clickhouse_analyst_user: str = "analyst"
    clickhouse_analyst_password: str | None = None

    s3_port: int = 9000
    s3_endpoint: str | None = None
    s3_access_key: str = "livefold"
    s3_secret_key: str | None = None
    s3_secure: bool = False
    s3_buckets: tuple[str, ...] = ("livefold-recordings", "livefold-clips")

    registry_port: int = 8081
    registry_url: str | None = None
    # Who may write to the registry (schemas, compatibility config): HTTP basic auth.
    registry_username: str = "livefold"
    registry_password: str | None = None

    gateway_port: int = 8000
    # The address clients use for the gateway (behind a load balancer: its https URL); it is
    # also the issuer of livefold's own access tokens.
    public_url: str | None = None
    auth_audience: str = "livefold"
    access_token_ttl_seconds: int = 900
    # External OpenID Connect providers whose access tokens are accepted (issuer URLs).
    oidc_issuers: tuple[str, ...] = ()
    # A sign-in lasts this long at most, however often its refresh token is rotated.
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # The public OAuth client of the web app and SDKs and where sign-in may send it back (empty:
    # <gateway_url>/auth/callback and http://127.0.0.1/callback, any port for loopback, RFC 8252).
    oauth_client_id: str = "livefold-web"
    oauth_redirect_uris: tuple[str, ...] = ()
    # How its ID tokens are signed (OpenID Connect registration's id_token_signed_response_alg).
    oauth_id_token_signed_response_alg: Literal["RS256", "ES256"] = "RS256"
    # Brute-force limits on the auth endpoints, per gateway process: token buckets refilling at
    # this many a minute, bursts of as many. Sign-in is limited per address and per username.
    auth_ip_sign_ins_per_minute: float = 30.0
    auth_account_sign_ins_per_minute: float = 10.0
    auth_ip_token_requests_per_minute: float = 120.0
    auth_ip_registrations_per_minute: float = 30.0
    # Per-user data keys encrypting personal fields, destroyed with the account: "s3" (a bucket
    # every gateway shares) or "directory" (under data_dir; one machine only).
    data_key_store: Literal["s3", "directory"] = "s3"
    data_key_bucket: str = "livefold-data-keys"
    # Gateway serving (docs/gateway.md): TLS with the given cert/key, or a generated
    # self-signed one; browser origins allowed by CORS; limits per client (token buckets:
    # a burst of twice the rate per second) and per WebSocket connection.
    gateway_tls_cert: Path | None = None
    gateway_tls_key: Path | None = None
    gateway_tls_self_signed: bool = False
    gateway_cors_origins: tuple[str, ...] = ()
    gateway_max_body_bytes: int = 65_536
    # What one HTTP client may make a gateway hold (docs/security.md): the request head's
    # bytes and fields, the seconds to send a whole request, idle seconds between requests.
    gateway_max_header_bytes: int = Field(default=32_768, ge=1024)
    gateway_max_headers: int = Field(default=100, ge=8)
    gateway_request_read_seconds: float = Field(default=10.0, gt=0)
    gateway_keep_alive_seconds: int = Field(default=5, ge=1)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto the gateway believes (addresses or
    # networks); none by default, so a client cannot pick the address its limits count on.
    gateway_trusted_proxies: tuple[str, ...] = ()
    # `/metrics` answers only `Authorization: Bearer <this>` (unset: the install's own secret).
    gateway_metrics_token: str | None = None
    # uvicorn's access log (off by default); `access_token` query values are never printed.
    gateway_access_log: bool = False
    # Gateways behind the load balancer: each enforces 1/N of every per-client limit.
    gateway_replicas: int = Field(default=1, ge=1)
    gateway_user_writes_per_second: float = 10.0
    gateway_ip_writes_per_second: float = 100.0
    gateway_user_connects_per_second: float = 5.0
    gateway_ip_connects_per_second: float = 50.0
    gateway_ws_frames_per_second: float = 20.0
    gateway_ws_send_buffer_bytes: int = 1_048_576
    gateway_ws_batch_ms: int = 25  # a busy stream's frames are this far apart (gateway.hub)
    gateway_ws_resume_limit: int = 500
    # A socket whose token expired is closed (4401) this long after `exp`, if not refreshed.
    gateway_ws_expired_close_seconds: float = Field(default=0.0, ge=0.0)
    # Sockets subscribed to a stream are its viewers: a heartbeat per socket this often (a
    # session ends after twice this without one, e.g. when its gateway dies).
    gateway_presence_heartbeat_seconds: float = Field(default=30.0, ge=0.5, le=1800.0)
    # A keyed write sent again this long after its first attempt reached the log is still found
    # there and answered, not appended twice (gateway/resends.py, docs/reliability.md).
    gateway_resend_window_seconds: float = Field(default=900.0, gt=0)
    # The longest a write with `Prefer: wait=...` (RFC 7240) is held for its outcome.
    gateway_prefer_wait_max_seconds: float = Field(default=10.0, ge=0.0, le=60.0)

    # Tips are paid through "sandbox" (local, for `make run`: test cards and webhooks signed like
    # Stripe's) or "stripe" (a secret key and the webhook endpoint's signing secret; the API base
    # is Stripe's unless set, e.g. to stripe-mock). Webhooks older than the tolerance are refused.
    payment_provider: Literal["sandbox", "stripe"] = "sandbox"
    payment_webhook_tolerance_seconds: int = 300
    payment_sandbox_secret: str | None = None
    payment_sandbox_webhook_url: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_mock_port: int = 12111
    go: str = "go"

    # Fold workers (`python -m agents worker`) `livefold run` starts, and their consumer group;
    # the group names the tables' changelog topics too, so a new group folds from scratch.
    fold_workers: int = 1
    fold_group: str = "livefold-folds"

    # An operator's own abuse classifier (ONNX, see livefold/moderation/onnx_model.py), one more
    # signal for one category; its WordPiece vocab.txt sits beside it unless named here. Every
    # process that folds moderation (worker, replay) must see the same model.
    moderation_model_path: Path | None = None
    moderation_model_vocab: Path | None = None
    moderation_model_category: Literal["threat", "hate", "sexual", "insult", "profanity"] = "insult"

    # `livefold run` restarts a process that died or stayed unhealthy this long, at most
    # `supervisor_restarts` times per service within `supervisor_restart_window` seconds.
    supervisor_restarts: int = 5
    supervisor_restart_window: float = 600.0
    supervisor_unhealthy_seconds: float = 30.0

    topic_partitions: int = 12
    topic_replication_factor: int = 1

    # Reactions viewers may send; the codec rejects other kinds (JSON list in the environment).
    reaction_kinds: tuple[str, ...] = ("heart", "fire", "laugh", "clap", "wow", "sad", "hype")

    # The media service (`python -m media`): WHIP ingest and WHEP playback (docs/media.md).
    media_port: int = 8900
    # ICE host candidates it offers and binds (aioice would offer every interface's address).
    media_ice_addresses: tuple[str, ...] = ("127.0.0.1",)
    media_max_publishers: int = 20
    media_max_viewers: int = 300  # per fan-out process: about 300 at 1 Mbps (one core)
    # WHEP fan-out processes (media/fanout.py), each forwarding on a core of its own; 0: one
    # per core.
    media_fanout_processes: int = 0
    # An ingest with no video frame for this long has stalled: the stream ends.
    media_ingest_timeout_seconds: float = 10.0
    # A live ingest's health (IngestHealth) is measured every `media_health_seconds` and appended
    # when it changed (bitrate by 10 %, fps by 1, new dropped frames), else every
    # `media_health_quiet_seconds`.
    media_health_seconds: float = 5.0
    media_health_quiet_seconds: float = 30.0
    # Names this media process in the ingests it logs (default `<host name>:<media_port>`): when
    # it starts again after a crash, it closes the ingests the log says it held.
    media_instance: str = ""
    # RTMP ingest (rtmp://<host>:<rtmp_port>/live/<stream key>) and where recordings go.
    rtmp_port: int = 1935
    media_recording_bucket: str = "livefold-recordings"
    # How often each live stream's thumbnail is taken again from its newest segment.
    media_thumbnail_seconds: float = Field(default=30.0, gt=0)
    # Where browsers and encoders reach the media service (the control panel shows these
    # addresses: GET /api/v1/media-endpoints); unset, http://<host>:<media_port>.
    media_public_url: str | None = None

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Resolved once, here: each child runs in a work dir of its own, where a relative
        # path would name another directory.
        return path.expanduser().resolve()

    @field_validator("gateway_trusted_proxies")
    @classmethod
    def _proxy_networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        # Addresses or networks only: uvicorn would also take "*", which trusts every client.
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies

    def secret(self, name: str) -> str:
        """The secret setting `name` (one of `SECRETS`), or the install's own if it is unset."""
        if name not in SECRETS:
            raise KeyError(f"{name} is not a secret setting")
        value = getattr(self, name)
        return str(value) if value is not None else install_secret(self.data_dir, name)

    def with_secrets(self) -> Settings:
        """These settings with every secret spelled out, for a process that talks to this
        install's servers from a data dir of its own (its own keys)."""
        return self.model_copy(update={name: self.secret(name) for name in SECRETS})

    def kafka_config(self) -> dict[str, Any]:
        """confluent-kafka's connection settings: where the brokers are and how to log in."""
        config = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol != "PLAINTEXT":
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username
            config["sasl.password"] = self.secret("kafka_sasl_password")
        if self.kafka_ssl_ca_file is not None:
            config["ssl.ca.location"] = str(self.kafka_ssl_ca_file)
        return config

    def registry_config(self) -> dict[str, str]:
        """confluent-kafka's SchemaRegistryClient settings, with the writer's credentials."""
        credentials = f"{self.registry_username}:{self.secret('registry_password')}"
        return {"url": self.registry, "basic.auth.user.info": credentials}

    @property
    def public(self) -> bool:
        """Whether this deployment serves anyone beyond this machine."""
        if self.production:
            return True
        if self.public_url is None:
            return False
        host = urlsplit(self.public_url).hostname or ""
        if host == "localhost" or host.endswith(".localhost"):
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    def refusals(self) -> list[str]:
        """Why these settings must not serve a public deployment (empty: they may)."""
        if not self.public:
            return []
        why = "LIVEFOLD_PUBLIC_URL is not a loopback address or LIVEFOLD_PRODUCTION is set"
        found = []
        if self.payment_provider == "sandbox":
            found.append(
                "the sandbox payment provider takes test cards and is for local runs: set "
                "LIVEFOLD_PAYMENT_PROVIDER=stripe with LIVEFOLD_STRIPE_SECRET_KEY and "
                "LIVEFOLD_STRIPE_WEBHOOK_SECRET"
            )
        if self.kafka_security_protocol != "SASL_SSL":
            found.append(
                f"Kafka over {self.kafka_security_protocol}: set LIVEFOLD_KAFKA_SECURITY_PROTOCOL="
                "SASL_SSL with LIVEFOLD_KAFKA_SASL_USERNAME and LIVEFOLD_KAFKA_SASL_PASSWORD"
            )
        external = {
            "clickhouse_password": self.clickhouse_url is not None
            and not urlsplit(self.clickhouse_url).password,
            "s3_secret_key": self.s3_endpoint is not None,
            "registry_password": self.registry_url is not None,
            "kafka_sasl_password": self.kafka_bootstrap_servers is not None,
        }
        # A made-up secret means nothing to a server livefold does not run itself.
        found += [
            f"LIVEFOLD_{name.upper()} is unset: set the secret the external server expects"
            for name, needed in external.items()
            if needed and getattr(self, name) is None
        ]
        return [f"{problem} ({why})" for problem in found]

    def deployment_error(self, program: str) -> str | None:
        """The message `program` exits with when `refusals` found something."""
        found = self.refusals()
        if not found:
            return None
        return f"{program}: refusing to start:\n" + "\n".join(f"- {line}" for line in found)

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
        tls = self.gateway_tls_self_signed or self.gateway_tls_cert is not None
        return self.public_url or f"{'https' if tls else 'http'}://{self.host}:{self.gateway_port}"

    @property
    def media_url(self) -> str:
        return (self.media_public_url or f"http://{self.host}:{self.media_port}").rstrip("/")

    def environment(self) -> dict[str, str]:
        """The LIVEFOLD_* variables that make a child process's Settings() equal these."""
        variables: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is not None:
                text = value if isinstance(value, str) else json.dumps(value)
                variables[f"LIVEFOLD_{name.upper()}"] = text
        return variables

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"
