"""The media service (`python -m media`) as a service of the local stack: it starts after Kafka
and the registry, and is ready once it has read the stream keys and stream lifecycles."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.errors import InfraError
from infra.service import Port, Service
from livefold.settings import Settings

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def local_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.media_port}"


@dataclass
class MediaService(Service):
    settings: Settings = field(default_factory=Settings)
    ready_timeout: float = 120.0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "media"]

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        root = f"{SOURCE_ROOT}{os.pathsep}{path}" if path else str(SOURCE_ROOT)
        return {**self.settings.environment(), "PYTHONPATH": root}

    def is_ready(self) -> bool:
        return httpx.get(f"{local_url(self.settings)}/health/ready", timeout=2.0).status_code == 200

    def is_live(self) -> bool:
        return httpx.get(f"{local_url(self.settings)}/health/live", timeout=2.0).status_code == 200

    def exit_error(self, returncode: int) -> InfraError:
        return InfraError(
            f"media exited with code {returncode} before it was ready: it needs Kafka and the "
            f"registry, and port {self.settings.media_port} (LIVEFOLD_MEDIA_PORT); "
            "see its log above"
        )

    def urls(self) -> dict[str, str]:
        url = local_url(self.settings)
        return {
            "whip": f"{url}/whip/<stream_id>",
            "whep": f"{url}/whep/<stream_id>",
            "rtmp": f"rtmp://{self.settings.host}:{self.settings.rtmp_port}/live/<stream key>",
            "hls": f"{url}/hls/<stream_id>/master.m3u8",
        }


def service(settings: Settings, name: str = "media") -> MediaService:
    return MediaService(
        name=name,
        workdir=settings.data_dir / name,
        ports=[
            Port(settings.media_port, "LIVEFOLD_MEDIA_PORT"),
            Port(settings.rtmp_port, "LIVEFOLD_RTMP_PORT"),
        ],
        settings=settings,
    )
