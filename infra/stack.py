"""The local stack in dependency order. A part whose URL is set in the settings is external
(production) and is not started here."""

from __future__ import annotations

from infra import clickhouse, kafka, registry, s3proxy
from infra.service import Service
from livefold.settings import Settings


def infrastructure(settings: Settings) -> list[Service]:
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
    """livefold's own processes (gateway, Faust workers), started once the stack is ready."""
    return []
