"""`python -m registry --host 127.0.0.1 --port 8081 --kafka 127.0.0.1:9092`: one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvicorn

from registry.app import create_app
from registry.store import KafkaLog, SchemaStore, StoreUnavailable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry", description="livefold's schema registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--kafka", required=True, metavar="BOOTSTRAP", help="host:port,...")
    parser.add_argument("--replication-factor", type=int, default=1, help="of _schemas")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for Kafka at start and writes"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = SchemaStore(
        KafkaLog(args.kafka, replication_factor=args.replication_factor), timeout=args.timeout
    )
    try:
        # Read `_schemas` to its end before listening: nothing is served from a partial state.
        asyncio.run(store.load())
    except StoreUnavailable as error:
        sys.exit(
            f"registry: {error.message}; check that Kafka answers at {args.kafka} "
            "(--kafka; LIVEFOLD_KAFKA_BOOTSTRAP_SERVERS or LIVEFOLD_KAFKA_PORT for the stack)"
        )
    uvicorn.run(
        create_app(store), host=args.host, port=args.port, access_log=False, log_level="info"
    )


if __name__ == "__main__":
    main()
