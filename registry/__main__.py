"""`python -m registry --host 127.0.0.1 --port 8081 --kafka 127.0.0.1:9092`: one registry of a
group; start more with other ports (and `--url` when clients reach them by another address).

The writer's credentials and how to log in to Kafka come from the LIVEFOLD_* settings
(LIVEFOLD_REGISTRY_USERNAME, LIVEFOLD_REGISTRY_PASSWORD or the install's own, LIVEFOLD_KAFKA_*).
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from confluent_kafka import KafkaException

from livefold.settings import Settings
from registry.app import create_app
from registry.election import Election
from registry.state import TOPIC
from registry.store import KafkaLog, SchemaStore
from streams.consumer import retried


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry", description="livefold's schema registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--kafka", required=True, metavar="BOOTSTRAP", help="host:port,...")
    parser.add_argument("--replication-factor", type=int, default=1, help="of _schemas")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for Kafka at start and writes"
    )
    parser.add_argument(
        "--url", help="where the other registries reach this one (default http://HOST:PORT)"
    )
    parser.add_argument(
        "--group", default="livefold-registry", help="registries of one group elect one writer"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    if (refused := settings.deployment_error("registry")) is not None:
        sys.exit(refused)
    writer = (settings.registry_username, settings.secret("registry_password"))
    # The brokers are --kafka; how to log in to them comes from the LIVEFOLD_KAFKA_* settings.
    connection = {**settings.kafka_config(), "bootstrap.servers": args.kafka}
    log = KafkaLog(connection, replication_factor=args.replication_factor)
    try:
        retried(lambda: log.ensure_topic(args.timeout), args.timeout)
    except KafkaException as error:
        sys.exit(
            f"registry: cannot reach {TOPIC}: {error}; check that Kafka answers at {args.kafka} "
            "(--kafka; LIVEFOLD_KAFKA_BOOTSTRAP_SERVERS or LIVEFOLD_KAFKA_PORT for the stack)"
        )
    url = args.url or f"http://{args.host}:{args.port}"
    election = Election(connection, TOPIC, args.group, url)
    store = SchemaStore(log, timeout=args.timeout, election=election)
    # The app reads `_schemas` to its end before it listens: nothing is served from a part.
    uvicorn.run(
        create_app(store, writer),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
