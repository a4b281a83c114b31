"""Kafka with SASL/SCRAM, as production runs it (there over TLS too): a broker of the test's own
with a SCRAM-only listener, and every kind of livefold client logging in to it (admin,
producer, consumer, the schema registry, a Faust fold worker); a client without the install's
credentials gets nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from livefold_sdk.kafka import EventConsumer, kafka_security

from infra import kafka, registry
from infra.service import running
from infra.stack import ephemeral_settings
from livefold.settings import Settings
from streams.catalog import event_topic
from streams.codec import Codec
from streams.consumer import read_to_end
from streams.producer import EventProducer
from streams.provision import provision
from tests.fold_workers import StateReader, event, group_settings, workers
from tests.servers import log_to


@pytest.fixture(scope="module")
def scram(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("sasl")
    settings = ephemeral_settings(data_dir, kafka_security_protocol="SASL_PLAINTEXT")
    services = [kafka.service(settings), registry.service(settings)]
    with running(services, output=log_to(data_dir / "logs")):
        provision(settings)  # topics (admin) and schemas (the registry, over SASL to Kafka)
        yield settings


def topics_seen_by(config: dict[str, object]) -> set[str]:
    return set(AdminClient({**config, "socket.timeout.ms": 3000}).list_topics(timeout=5).topics)


def test_livefolds_clients_log_in_with_scram_and_others_are_refused(
    scram: Settings, tmp_path: Path
) -> None:
    assert event_topic("chat") in topics_seen_by(scram.kafka_config())

    anonymous = {"bootstrap.servers": scram.kafka_bootstrap}
    stranger = {**scram.kafka_config(), "sasl.password": "not-the-password"}
    for config in (anonymous, stranger):
        with pytest.raises(KafkaException):
            topics_seen_by(config)

    codec = Codec.from_settings(scram)
    producer = EventProducer(scram, codec)
    stream = f"s-{uuid.uuid4().hex[:8]}"
    sent = event("livefold.reactions.ReactionSent", stream, "ann", kind="fire", count=2)
    try:
        producer.append(sent).result(30)
        read = read_to_end(scram, codec, [event_topic("reactions")], producer)
        assert [record.event.event_id for record in read] == [sent.event_id]
    finally:
        producer.close()


def test_a_fold_worker_folds_over_scram(scram: Settings) -> None:
    folding = group_settings(scram, "sasl")
    stream = f"s-{uuid.uuid4().hex[:8]}"
    codec = Codec.from_settings(folding)
    producer = EventProducer(folding, codec)
    with workers(folding, 1), StateReader(folding, ["reactions"]) as states:
        producer.append(
            event("livefold.reactions.ReactionSent", stream, "ann", kind="fire", count=3)
        ).result(30)
        view = states.wait_for(lambda: states.latest("reactions", stream), timeout=60)
    producer.close()
    assert view["total"] == 3


def test_the_sdks_consumer_logs_in_with_scram(scram: Settings) -> None:
    codec = Codec.from_settings(scram)
    producer = EventProducer(scram, codec)
    stream = f"s-{uuid.uuid4().hex[:8]}"
    sent = event("livefold.reactions.ReactionSent", stream, "ann", kind="wow", count=1)
    producer.append(sent).result(30)
    producer.close()
    login = kafka_security(
        scram.kafka_sasl_username, scram.secret("kafka_sasl_password"), tls=False
    )
    group = f"sdk-{uuid.uuid4().hex[:8]}"
    with EventConsumer(
        scram.kafka_bootstrap, scram.registry, group, ["reactions"], from_beginning=True,
        config=login,
    ) as consumer:  # fmt: skip
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            polled = consumer.poll(1.0)
            if polled is not None and polled.key == stream:
                found = polled
    assert found is not None and found.body["event_id"] == sent.event_id
