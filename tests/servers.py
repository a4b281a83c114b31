from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from infra.service import Service
from infra.stack import ephemeral_settings
from livefold.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def settings_on_free_ports(data_dir: Path) -> Settings:
    return ephemeral_settings(data_dir)


def log_to(log_dir: Path) -> Callable[[Service], IO[bytes]]:
    log_dir.mkdir(parents=True, exist_ok=True)

    def open_log(service: Service) -> IO[bytes]:
        return (log_dir / f"{service.name}.log").open("ab")

    return open_log


def environment_of(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings` in its LIVEFOLD_* variables."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LIVEFOLD_")}
    return {**inherited, **settings.environment()}
