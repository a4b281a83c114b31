from __future__ import annotations

import json
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
    """The LIVEFOLD_* variables that make a child process's Settings() equal these settings."""
    env = {**os.environ}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            env.pop(f"LIVEFOLD_{name.upper()}", None)
            continue
        env[f"LIVEFOLD_{name.upper()}"] = (
            json.dumps(value) if isinstance(value, list) else str(value)
        )
    return env
