"""livefold's Kafka topics and their idempotent creation at start-up.

Event topics keep everything forever (the log is the source of truth); state topics are compacted
(only the latest value per key matters); the dead-letter topic keeps a month for inspection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from infra.errors import InfraError
from livefold.settings import Settings
from streams.catalog import DEADLETTER_TOPIC, STATE_TOPICS, Catalog, catalog, state_topic

log = logging.getLogger(__name__)

DEADLETTER_RETENTION_MS = 30 * 24 * 3600 * 1000
# A fold state (a busy stream's chat or moderation, with its dedupe window) can pass Kafka's
# 1 MB default record limit; state topics and table changelogs take records up to this size.
MAX_STATE_RECORD_BYTES = 16 * 1024 * 1024
# Compacted topics roll a segment every 10 minutes so that compaction (which never touches the
# active segment) keeps what a starting gateway or worker reads short.
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.ms": str(10 * 60 * 1000),
    "max.message.bytes": str(MAX_STATE_RECORD_BYTES),
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    # topic -> (partitions it has, partitions the settings ask for)
    fewer_partitions: dict[str, tuple[int, int]] = field(default_factory=dict)


class TopicError(InfraError):
    """A topic could not be created."""


def topic_specs(settings: Settings, event_catalog: Catalog | None = None) -> list[TopicSpec]:
    replication = settings.topic_replication_factor
    # acks=all then means "on at least two replicas" wherever there are three.
    durable = {"min.insync.replicas": str(max(1, min(2, replication - 1)))}

    def spec(name: str, **config: str) -> TopicSpec:
        dotted = {key.replace("_", "."): value for key, value in config.items()}
        return TopicSpec(name, settings.topic_partitions, replication, {**durable, **dotted})

    events = event_catalog or catalog()
    return [
        *(spec(topic, retention_ms="-1", retention_bytes="-1") for topic in events.topics()),
        *(spec(state_topic(name), **COMPACTED) for name in STATE_TOPICS),
        spec(DEADLETTER_TOPIC, retention_ms=str(DEADLETTER_RETENTION_MS)),
    ]


def ensure_topics(
    settings: Settings, specs: list[TopicSpec] | None = None, timeout: float = 30.0
) -> TopicReport:
    """Create the topics that are missing. Existing topics are left as they are; one with fewer
    partitions than asked gets a warning, because adding partitions would move streams to other
    partitions and break their order."""
    specs = topic_specs(settings) if specs is None else specs
    admin = AdminClient(settings.kafka_config())
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise TopicError(
            f"Kafka at {settings.kafka_bootstrap} did not answer: {error}; "
            "is it running? (LIVEFOLD_KAFKA_BOOTSTRAP_SERVERS / LIVEFOLD_KAFKA_PORT)"
        ) from error
    report = TopicReport()
    missing = []
    for spec in specs:
        found = metadata.topics.get(spec.name)
        if found is None or found.error is not None:
            missing.append(spec)
            continue
        report.existing.append(spec.name)
        if len(found.partitions) < spec.partitions:
            report.fewer_partitions[spec.name] = (len(found.partitions), spec.partitions)
            log.warning(
                "topic %s has %d partitions, LIVEFOLD_TOPIC_PARTITIONS asks for %d; kept as is "
                "(more partitions would move streams and break their order)",
                spec.name,
                len(found.partitions),
                spec.partitions,
            )
    if missing:
        new_topics = [
            NewTopic(s.name, s.partitions, s.replication_factor, config=s.config) for s in missing
        ]
        futures = admin.create_topics(new_topics, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
                report.created.append(name)
            except KafkaException as error:
                kafka_error: KafkaError = error.args[0]
                if kafka_error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    report.existing.append(name)  # someone else created it meanwhile
                    continue
                raise TopicError(topic_failure(name, kafka_error, len(metadata.brokers))) from error
            except TimeoutError as error:
                raise TopicError(
                    f"Kafka at {settings.kafka_bootstrap} did not create topic {name} "
                    f"within {timeout:.0f} s"
                ) from error
    return report


def topic_failure(name: str, error: KafkaError, brokers: int) -> str:
    message = f"could not create topic {name}: {error.str()}"
    if error.code() == KafkaError.INVALID_REPLICATION_FACTOR:
        message += f"; the cluster has {brokers} broker(s): lower LIVEFOLD_TOPIC_REPLICATION_FACTOR"
    elif error.code() == KafkaError.INVALID_PARTITIONS:
        message += "; set LIVEFOLD_TOPIC_PARTITIONS to a positive number"
    return message
