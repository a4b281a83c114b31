"""Apache Kafka 4.1 in KRaft mode: one process that is both broker and controller (node 1).

Storage is formatted once, as a standalone dynamic quorum. server.properties is rewritten at
every start, so the ports may change between runs (tests, a second `make run` on other ports):
the single voter records its new controller endpoint in the metadata log when it becomes leader
(Kafka 4.1 does this itself; tests/test_kafka.py checks it).

With LIVEFOLD_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT the client listener takes SASL/SCRAM only:
the user (LIVEFOLD_KAFKA_SASL_USERNAME, password the setting or the install's own) is written
into the metadata log when the storage is formatted, so it exists before the broker starts.
TLS (SASL_SSL) is for production brokers; the local one speaks plaintext on loopback.
"""

from __future__ import annotations

import base64
import logging
import re
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from infra.errors import InfraError
from infra.java import JavaService
from infra.service import Port, write_private
from livefold.settings import Settings

LOG4J2_CONFIG = Path(__file__).resolve().parent / "kafka" / "log4j2.properties"
# The flags of Kafka's own start scripts. G1 starts as fast as SerialGC here (about 2 s to
# ready on 2 cores) and keeps pauses short under load.
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
HEAP_SIZE = re.compile(r"[1-9][0-9]*[kKmMgG]?")
NODE_ID = 1
_log = logging.getLogger(__name__)


@dataclass
class KafkaService(JavaService):
    jars = "kafka"

    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "1g"
    partitions: int = 12
    # settings.kafka_config() without the servers: PLAINTEXT, or SASL_PLAINTEXT with SCRAM.
    security: dict[str, Any] = field(default_factory=lambda: {"security.protocol": "PLAINTEXT"})

    @property
    def sasl(self) -> bool:
        return self.security.get("security.protocol") == "SASL_PLAINTEXT"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.workdir.resolve() / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.workdir.resolve() / "data"

    def prepare(self) -> None:
        if not HEAP_SIZE.fullmatch(self.heap):
            raise InfraError(
                f"Kafka heap size '{self.heap}' is not a JVM size; set LIVEFOLD_KAFKA_HEAP "
                "to e.g. 512m or 1g"
            )
        if self.partitions < 1:
            raise InfraError(
                f"topics need at least one partition, not {self.partitions}; "
                "set LIVEFOLD_TOPIC_PARTITIONS to 1 or more"
            )
        super().prepare()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)  # the event log, and the SCRAM password in the config
        write_private(self.config_file, self.server_properties())
        if not (self.log_dir / "meta.properties").exists():
            self._format_storage()

    def server_properties(self) -> str:
        controller = f"{self.host}:{self.controller_port}"
        listener = "SASL_PLAINTEXT" if self.sasl else "PLAINTEXT"
        properties: dict[str, Any] = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"{listener}://{self.bootstrap},CONTROLLER://{controller}",
            "advertised.listeners": f"{listener}://{self.bootstrap}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"{listener}:{listener},CONTROLLER:PLAINTEXT",
            "log.dirs": self.log_dir,
            "num.partitions": self.partitions,
            # One broker: every replication factor and in-sync minimum is 1.
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
        if self.sasl:
            mechanism = self.security["sasl.mechanism"]
            properties["sasl.enabled.mechanisms"] = mechanism
            properties["sasl.mechanism.inter.broker.protocol"] = mechanism
            login = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{self.security["sasl.username"]}" '
                f'password="{self.security["sasl.password"]}";'
            )
            properties[f"listener.name.sasl_plaintext.{mechanism.lower()}.sasl.jaas.config"] = login
        return "".join(f"{key}={value}\n" for key, value in properties.items())

    def _format_storage(self) -> None:
        result = subprocess.run(
            self.java_command(
                [f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}"],
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "--cluster-id",
                new_cluster_id(),
                "--config",
                str(self.config_file),
                *self._scram_user(),
            ),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-10:])
            raise InfraError(
                f"formatting Kafka's storage in {self.log_dir} failed (exit "
                f"{result.returncode}); remove that dir or set LIVEFOLD_DATA_DIR:\n{tail}"
            )

    def _scram_user(self) -> list[str]:
        if not self.sasl:
            return []
        user, password = self.security["sasl.username"], self.security["sasl.password"]
        return [
            "--add-scram",
            f"{self.security['sasl.mechanism']}=[name={user},password={password}]",
        ]

    def command(self) -> list[str]:
        return self.java_command(
            [
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                *JVM_FLAGS,
                f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            ],
            "kafka.Kafka",
            str(self.config_file),
        )

    def is_ready(self) -> bool:
        # A plain connect first: librdkafka prints every refused connection on stderr.
        with socket.create_connection((self.host, self.port), timeout=0.5):
            pass
        # librdkafka's log goes to Python logging, not this process's stderr.
        config: dict[str, Any] = {
            **self.security,
            "bootstrap.servers": self.bootstrap,
            "logger": _log,
        }
        admin = AdminClient(config)
        return NODE_ID in admin.list_topics(timeout=2).brokers

    # request_stop: Service's SIGTERM is Kafka's controlled shutdown (under a second here).
    # After a SIGKILL instead, the next start takes ~13 s: the controller refuses the new
    # registration until the old broker session expires (broker.session.timeout.ms, 9 s).

    def urls(self) -> dict[str, str]:
        return {"kafka": self.bootstrap}


def new_cluster_id() -> str:
    """What `kafka-storage random-uuid` prints (URL-safe base64 of a random UUID, never starting
    with '-'), without starting a JVM for it."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def service(settings: Settings) -> KafkaService:
    return KafkaService(
        name="kafka",
        workdir=settings.data_dir / "kafka",
        ports=[
            Port(settings.kafka_port, "LIVEFOLD_KAFKA_PORT"),
            Port(settings.kafka_controller_port, "LIVEFOLD_KAFKA_CONTROLLER_PORT"),
        ],
        host=settings.host,
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        heap=settings.kafka_heap,
        partitions=settings.topic_partitions,
        security={k: v for k, v in settings.kafka_config().items() if k != "bootstrap.servers"},
        java=settings.java,
        mvn=settings.mvn,
        cache_dir=settings.cache_dir,
    )
