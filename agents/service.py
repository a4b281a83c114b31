"""livefold's agents as services of the local stack (`AgentService`), and the fold workers:
`settings.fold_workers` processes of `python -m agents worker`, started after provisioning and
before the gateway.

A worker is ready once it wrote its ready file: it joined the group, Faust recovered the
tables of the partitions it was given, and its platform moderation state caught up. It then
touches the file every second: a file older than `HEARTBEAT_STALE` means a hung worker.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from infra.errors import InfraError
from infra.service import Service, fresh
from livefold.settings import Settings

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class AgentService(Service):
    """A process of `agents`, run from this source tree with the stack's settings, that touches
    its heartbeat file in its workdir every second while it works."""

    settings: Settings = field(default_factory=Settings)
    HEARTBEAT: ClassVar[str] = "live"  # the heartbeat file's name

    @property
    def heartbeat_file(self) -> Path:
        return self.workdir.resolve() / self.HEARTBEAT

    def prepare(self) -> None:
        self.heartbeat_file.unlink(missing_ok=True)  # an earlier run's beat is none of this one's

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        source = f"{SOURCE_ROOT}{os.pathsep}{path}" if path else str(SOURCE_ROOT)
        return {**self.settings.environment(), "PYTHONPATH": source}

    def is_live(self) -> bool:
        return fresh(self.heartbeat_file)


@dataclass
class FoldWorkerService(AgentService):
    ready_timeout: float = 120.0
    HEARTBEAT: ClassVar[str] = "ready"  # written once ready, then touched

    def command(self) -> list[str]:
        return [sys.executable, "-m", "agents", "worker", "--ready-file", str(self.heartbeat_file)]

    def is_ready(self) -> bool:
        return self.heartbeat_file.exists()

    def exit_error(self, returncode: int) -> InfraError:
        return InfraError(
            f"{self.name} exited with code {returncode} before it was ready; see its log above "
            "(code 2: the topics are missing or LIVEFOLD_TOPIC_PARTITIONS disagrees with them)"
        )


def service(settings: Settings, number: int = 1) -> FoldWorkerService:
    name = "folds" if number == 1 else f"folds-{number}"
    return FoldWorkerService(name=name, workdir=settings.data_dir / name, settings=settings)


def services(settings: Settings) -> list[Service]:
    return [service(settings, number) for number in range(1, settings.fold_workers + 1)]
