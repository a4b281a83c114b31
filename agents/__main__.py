"""`python -m agents worker`: one fold worker process (see `agents.worker`).

    python -m agents worker [--ready-file PATH] [--web-port PORT]

Settings come from LIVEFOLD_* variables. Several workers share the partitions; each needs
the event topics provisioned (`make run` does it) and creates its tables' changelog topics.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import faust
from confluent_kafka.admin import AdminClient

from agents.app import (
    WORKER_PRODUCER,
    changelog_specs,
    changelog_topic,
    create_app,
    register_codecs,
)
from agents.folds import changelog_tables, configure_moderation, drivers, tables
from agents.platform import ACCOUNTS, PlatformFold, PlatformModeration
from agents.state_records import ChangelogFormat, window_table
from agents.worker import FoldWorker
from infra.errors import InfraError
from livefold.data_keys import text_opener
from livefold.domains import DOMAINS
from livefold.folding import Domain
from livefold.moderation import fold as moderation
from livefold.settings import Settings
from streams.codec import Codec
from streams.producer import EventProducer
from streams.state import StateWriter
from streams.topics import ensure_topics


def build(
    settings: Settings,
    web_port: int | None = None,
    ready_file: Path | None = None,
    domains: Mapping[str, Domain] = DOMAINS,
    platform_fold: PlatformFold = moderation.fold,
) -> tuple[faust.App, FoldWorker]:
    codec = Codec.from_settings(settings)
    event_codec = register_codecs(codec)
    app = create_app(settings, web_port)
    producer = EventProducer(settings, codec, **WORKER_PRODUCER)
    platform = PlatformModeration(settings, codec, producer, platform_fold)
    folds = drivers(app, settings.topic_partitions, platform, domains, text_opener(settings))
    changelog = ChangelogFormat.registered(
        codec,
        (changelog_topic(settings, fold.name) for fold in folds),
        (changelog_topic(settings, window_table(fold.name)) for fold in folds),
    )
    for fold in folds:
        fold.changelog = changelog
    worker = FoldWorker(
        app,
        event_codec,
        folds,
        platform,
        settings.topic_partitions,
        producer,
        StateWriter.registered(codec),
        ready_file,
    )
    worker.install()
    return app, worker


def check_topics(settings: Settings, topics: list[str], table_names: list[str]) -> None:
    """The event topics exist with the partitions the settings say (else the group would
    read nothing, or streams would not meet their states)."""
    metadata = AdminClient(settings.kafka_config()).list_topics(timeout=30)
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise InfraError(
                f"topic {topic} does not exist in Kafka at {settings.kafka_bootstrap}; "
                "provision the topics first (`livefold run` does)"
            )
        if len(found.partitions) != settings.topic_partitions:
            raise InfraError(
                f"topic {topic} has {len(found.partitions)} partitions but "
                f"LIVEFOLD_TOPIC_PARTITIONS is {settings.topic_partitions}; make them agree"
            )
    report = ensure_topics(settings, changelog_specs(settings, changelog_tables(table_names)))
    if report.fewer_partitions:
        raise InfraError(
            f"changelog topics with too few partitions: {report.fewer_partitions}; "
            "delete them (their states are rebuilt from the log) or fix LIVEFOLD_TOPIC_PARTITIONS"
        )


def main(
    argv: list[str] | None = None,
    domains: Mapping[str, Domain] = DOMAINS,
    platform_fold: PlatformFold = moderation.fold,
) -> int:
    """`domains`: the folds besides moderation (tests add one of their own); `platform_fold`:
    the platform moderation state's (tests give one with a bug)."""
    parser = argparse.ArgumentParser(prog="python -m agents")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("worker", help="run a fold worker")
    run.add_argument("--ready-file", type=Path, help="written once the worker folds")
    run.add_argument("--web-port", type=int, help="serve Faust's web views on this port")
    run.add_argument("--loglevel", default="info", choices=["debug", "info", "warn", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per schema looked up
    settings = Settings()
    if (refused := settings.deployment_error("fold worker")) is not None:
        sys.exit(refused)
    try:
        configure_moderation(settings)
        app, worker = build(settings, args.web_port, args.ready_file, domains, platform_fold)
        check_topics(settings, sorted(worker.source_topics | {ACCOUNTS}), tables(domains))
    except InfraError as error:
        print(f"livefold fold worker: {error}", file=sys.stderr)
        return 2
    # Fold states are many small dicts that live long: collecting the young generation every
    # 700 allocations would scan them again and again (a third of the CPU, measured here).
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    worker.platform.start()
    try:
        faust.Worker(
            app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False
        ).execute_from_commandline()
    finally:
        worker.platform.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
