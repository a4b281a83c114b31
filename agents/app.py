"""The Faust app of the fold workers, and the codecs its topics and tables use.

Every worker process of the consumer group `settings.fold_group` runs one app: it consumes
every event topic, folds events into the domains' states (`agents.folds`), keeps the states in
Faust tables whose changelogs are compacted topics, and publishes what the folds output.

Codecs, registered with Faust by name:
- `livefold` (`EVENT_CODEC`): events in the Confluent wire format, through `streams.codec.Codec`,
  the one codec producer, gateway, CLI and workers share. Decoding raises `DecodeError`; the
  worker dead-letters those records (`agents.worker`), so a bad record never stops an agent.
- `livefold-state`, `livefold-window`: a fold state and a dedupe window chunk as their
  changelog records hold them (`agents.state_records`: Confluent wire format, or the plain
  JSON of before). Workers write those records themselves (`FoldDriver.take_writes`), with
  the schema ids registered for each changelog topic; Faust only reads them, to recover.
- `livefold-key`: a table key, UTF-8.

Topics are never created behind the operator's back: event and state topics come from
provisioning (`streams.provision`), the changelog topics from `changelog_specs`, created
before the app starts (`topic_allow_declare` is off).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
from faust.serializers import codecs

from agents.state_records import chunk_of, state_of
from livefold.settings import Settings
from streams.codec import Codec
from streams.topics import COMPACTED, MAX_STATE_RECORD_BYTES, TopicSpec

EVENT_CODEC = "livefold"
STATE_CODEC = "livefold-state"
WINDOW_CODEC = "livefold-window"
KEY_CODEC = "livefold-key"
# A worker killed without warning is noticed this fast; its partitions move then.
SESSION_TIMEOUT = 6.0
# The worker's own producer (librdkafka, `agents.worker`): a batch's outputs leave within 2 ms,
# and a state record may be as large as the state topics take.
WORKER_PRODUCER = {"linger.ms": 2, "message.max.bytes": MAX_STATE_RECORD_BYTES}


class EventCodec(codecs.Codec):
    """Faust's view of `streams.codec.Codec`."""

    def __init__(self, codec: Codec, **kwargs: Any) -> None:
        super().__init__(codec=codec, **kwargs)
        self.codec = codec

    def _dumps(self, event: Any) -> bytes:
        return self.codec.encode(event)

    def _loads(self, data: bytes) -> Any:
        return self.codec.decode(data)


class StateCodec(codecs.Codec):
    def _dumps(self, state: Any) -> bytes:
        raise TypeError("fold states reach their changelog through FoldDriver.take_writes")

    def _loads(self, data: bytes) -> Any:
        return state_of(data)


class WindowCodec(codecs.Codec):
    def _dumps(self, chunk: Any) -> bytes:
        raise TypeError("window chunks reach their changelog through FoldDriver.take_writes")

    def _loads(self, data: bytes) -> Any:
        return chunk_of(data)


class KeyCodec(codecs.Codec):
    def _dumps(self, key: Any) -> bytes:
        return str(key).encode()

    def _loads(self, data: bytes) -> Any:
        return bytes(data).decode()


def register_codecs(codec: Codec) -> EventCodec:
    """Register the codecs under their names (once per process) and return the event codec."""
    event_codec = EventCodec(codec)
    codecs.register(EVENT_CODEC, event_codec)
    codecs.register(STATE_CODEC, StateCodec())
    codecs.register(WINDOW_CODEC, WindowCodec())
    codecs.register(KEY_CODEC, KeyCodec())
    return event_codec


def changelog_topic(settings: Settings, table: str) -> str:
    return f"{settings.fold_group}-{table}-changelog"  # the name Faust gives it


def changelog_specs(settings: Settings, tables: list[str]) -> list[TopicSpec]:
    """The tables' changelog topics: compacted, partitioned like the event topics, so that
    partition p of a changelog holds the states of the streams whose events are on partition p."""
    return [
        TopicSpec(
            changelog_topic(settings, table),
            settings.topic_partitions,
            settings.topic_replication_factor,
            dict(COMPACTED),
        )
        for table in tables
    ]


def broker_credentials(settings: Settings) -> faust.SASLCredentials | None:
    """How Faust logs in to Kafka: the SASL settings every other client uses (kafka_config)."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    context = None
    if settings.kafka_security_protocol == "SASL_SSL":
        ca = settings.kafka_ssl_ca_file
        context = ssl.create_default_context(cafile=None if ca is None else str(ca))
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.secret("kafka_sasl_password"),
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism,
    )


def create_app(settings: Settings, web_port: int | None = None) -> faust.App:
    """The app; `web_port` None turns Faust's web server off (readiness uses a file)."""
    from agents.faust_private import BatchTransport

    datadir = Path(settings.data_dir).resolve() / "agents" / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.fold_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=False,
        topic_disable_leader=True,
        table_standby_replicas=0,
        broker_session_timeout=SESSION_TIMEOUT,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.002,
        producer_max_request_size=MAX_STATE_RECORD_BYTES,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_host=settings.host,
    )
    app.transport = BatchTransport(app.conf.broker_consumer, app)
    return app
