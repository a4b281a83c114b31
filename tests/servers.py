from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from infra.service import Service, free_port
from livefold.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def settings_on_free_ports(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        cache_dir=REPO / ".livefold" / "cache",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        clickhouse_port=free_port(),
        s3_port=free_port(),
        registry_port=free_port(),
        gateway_port=free_port(),
        topic_partitions=3,
    )


def log_to(log_dir: Path) -> Callable[[Service], IO[bytes]]:
    log_dir.mkdir(parents=True, exist_ok=True)

    def open_log(service: Service) -> IO[bytes]:
        return (log_dir / f"{service.name}.log").open("ab")

    return open_log
