"""The gateway (`python -m gateway`) as a service of the local stack; it starts after Kafka, the
registry and the Faust workers, and is ready once it has read the state topics."""

from __future__ import annotations

import os
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.errors import InfraError
from infra.service import Port, Service
from livefold.settings import Settings

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def local_url(settings: Settings) -> str:
    """Where this process listens (its public URL may be a load balancer's)."""
    tls = settings.gateway_tls_self_signed or settings.gateway_tls_cert is not None
    return f"{'https' if tls else 'http'}://{settings.host}:{settings.gateway_port}"


@dataclass
class GatewayService(Service):
    settings: Settings = field(default_factory=Settings)
    ready_timeout: float = 120.0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gateway"]

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        root = f"{SOURCE_ROOT}{os.pathsep}{path}" if path else str(SOURCE_ROOT)
        return {**self.settings.environment(), "PYTHONPATH": root}

    def is_ready(self) -> bool:
        return self._answers("/health/ready")

    def is_live(self) -> bool:
        return self._answers("/health/live")

    def _answers(self, path: str) -> bool:
        # A self-signed certificate is ours: checking who we talk to adds nothing here.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        url = f"{local_url(self.settings)}{path}"
        return httpx.get(url, timeout=2.0, verify=context).status_code == 200

    def exit_error(self, returncode: int) -> InfraError:
        return InfraError(
            f"gateway exited with code {returncode} before it was ready: it needs Kafka and the "
            f"registry, and port {self.settings.gateway_port} (LIVEFOLD_GATEWAY_PORT); "
            "see its log above"
        )

    def urls(self) -> dict[str, str]:
        return {
            "gateway": self.settings.gateway_url,
            "openapi": f"{self.settings.gateway_url}/openapi.json",
        }


def service(settings: Settings, name: str = "gateway") -> GatewayService:
    return GatewayService(
        name=name,
        workdir=settings.data_dir / name,
        ports=[Port(settings.gateway_port, "LIVEFOLD_GATEWAY_PORT")],
        settings=settings,
    )
