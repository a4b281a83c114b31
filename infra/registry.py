"""livefold's schema registry (`python -m registry`) as a service of the local stack.

It keeps its state in Kafka's `_schemas` topic, so it has no data dir of its own and must start
after Kafka. It answers `GET /health/ready` with 200 only once it has read that topic to the end.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.errors import InfraError
from infra.service import Port, Service
from livefold.settings import Settings

# The child runs in its work dir; it imports `registry` from this checkout.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RegistryService(Service):
    host: str = "127.0.0.1"
    port: int = 8081
    kafka_bootstrap: str = "127.0.0.1:9092"
    replication_factor: int = 1
    kafka_timeout: float = 30.0  # the registry gives up on Kafka before we give up on it
    settings: Settings = field(default_factory=Settings)  # credentials: its writer's, Kafka's

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "registry",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--kafka",
            self.kafka_bootstrap,
            "--replication-factor",
            str(self.replication_factor),
            "--timeout",
            str(self.kafka_timeout),
        ]

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        root = f"{SOURCE_ROOT}{os.pathsep}{path}" if path else str(SOURCE_ROOT)
        return {**self.settings.environment(), "PYTHONPATH": root}

    def is_ready(self) -> bool:
        return httpx.get(f"{self.url}/health/ready", timeout=2.0).status_code == 200

    def is_live(self) -> bool:
        return httpx.get(f"{self.url}/health/live", timeout=2.0).status_code == 200

    def exit_error(self, returncode: int) -> InfraError:
        return InfraError(
            f"registry exited with code {returncode} before it was ready: it needs Kafka at "
            f"{self.kafka_bootstrap} (LIVEFOLD_KAFKA_BOOTSTRAP_SERVERS) and port {self.port} "
            "(LIVEFOLD_REGISTRY_PORT); see its log above"
        )

    def urls(self) -> dict[str, str]:
        return {"schema registry": self.url}


def service(settings: Settings) -> RegistryService:
    return RegistryService(
        name="registry",
        workdir=settings.data_dir / "registry",
        ports=[Port(settings.registry_port, "LIVEFOLD_REGISTRY_PORT")],
        host=settings.host,
        port=settings.registry_port,
        kafka_bootstrap=settings.kafka_bootstrap,
        replication_factor=settings.topic_replication_factor,
        settings=settings,
    )
