"""The local stack in dependency order. A part whose URL is set in the settings is external
(production) and is not started here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.service import Service, free_ports
from livefold.settings import Settings


def infrastructure(settings: Settings) -> list[Service]:
    from infra import clickhouse, kafka, registry, s3proxy

    services: list[Service] = []
    if settings.kafka_bootstrap_servers is None:
        services.append(kafka.service(settings))
    if settings.clickhouse_url is None:
        services.append(clickhouse.service(settings))
    if settings.s3_endpoint is None:
        services.append(s3proxy.service(settings))
    if settings.registry_url is None:
        services.append(registry.service(settings))
    return services


def application(settings: Settings) -> list[Service]:
    """livefold's own processes (gateway, Faust workers, media), started once the stack is
    ready."""
    from agents import analytics, notify
    from agents import service as folds
    from gateway import service as gateway
    from media import service as media

    services: list[Service] = []
    services.append(analytics.service(settings))
    services += folds.services(settings)
    services.append(notify.service(settings))
    services.append(media.service(settings))
    services.append(gateway.service(settings))  # last: it serves what the workers fold
    return services


def ephemeral_settings(data_dir: Path, **overrides: Any) -> Settings:
    """A private stack on free ports under data_dir (tests, benchmarks), sharing the jar cache."""
    repo = Path(__file__).resolve().parent.parent
    names = (
        "kafka",
        "kafka_controller",
        "clickhouse",
        "s3",
        "registry",
        "gateway",
        "media",
        "rtmp",
    )
    defaults: dict[str, Any] = {
        f"{name}_port": port for name, port in zip(names, free_ports(len(names)), strict=True)
    }
    defaults.update(data_dir=data_dir, cache_dir=repo / ".livefold" / "cache", topic_partitions=3)
    return Settings(**{**defaults, **overrides})
