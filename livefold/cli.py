"""The `livefold` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from livefold.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def _run(_args: argparse.Namespace, settings: Settings) -> int:
    from infra.supervisor import Supervisor

    return Supervisor(settings).run()


def _stop(_args: argparse.Namespace, settings: Settings) -> int:
    from infra.supervisor import stop

    return stop(settings)


def _events(args: argparse.Namespace, settings: Settings) -> int:
    from streams.eventlog import EventLog, Filter

    log = EventLog(settings)
    keep = Filter(args.stream, frozenset(args.type or ()), args.since, args.until)
    try:
        topics = log.topics(args.topic or ())
        if args.action == "tail":
            for line in log.tail(topics, keep, from_beginning=args.from_beginning, limit=args.max):
                print(line, flush=True)
        elif args.action == "export":
            count = log.export(topics, keep, args.output, args.format)
            print(f"exported {count} events to {args.output}", file=sys.stderr)
        elif args.action == "import":
            appended, skipped = log.import_file(args.input, keep, args.topic or ())
            print(f"imported {appended} events, skipped {skipped} already in the log")
        else:
            print(json.dumps(log.stats(topics, keep), indent=2))
    except (ValueError, OSError) as error:
        print(f"livefold events {args.action}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        log.close()
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from clickhouse_connect.driver.exceptions import ClickHouseError
    from confluent_kafka import KafkaException

    from agents import verify
    from agents.replay import replay
    from agents.replay_output import publish_state, report

    try:
        result = replay(settings, args.clickhouse_prefix, clickhouse=not args.no_clickhouse)
        published = (
            publish_state(settings, result, args.publish_state) if args.publish_state else {}
        )
        checked = verify.verify(settings, result) if args.verify else None
    except (ValueError, OSError, RuntimeError, ClickHouseError, KafkaException) as error:
        print(f"livefold replay: {error}", file=sys.stderr)
        return 2
    if args.json:
        verified = {} if checked is None else {"verify": checked.as_dict()}
        print(json.dumps({**result.as_dict(), "published": published, **verified}, indent=2))
    else:
        print(report(result))
        for topic, count in published.items():
            print(f"published {count} state records to {topic}")
        if checked is not None:
            print(verify.report(checked))
    return 0 if checked is None or checked.ok else 1


def _auth_token(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.admin import local_token

    try:
        print(local_token(settings, args.user, set(args.role or ["viewer"]), args.ttl))
    except ValueError as error:
        print(f"livefold auth token: {error}", file=sys.stderr)
        return 2
    return 0


def _auth_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = commands.add_parser("auth", help="tokens for local development")
    actions = auth.add_subparsers(dest="action", required=True)
    token = actions.add_parser(
        "token", help="print an access token signed with this install's key (local development)"
    )
    token.set_defaults(func=_auth_token)
    token.add_argument("--user", required=True, help="the user id the token is for")
    token.add_argument(
        "--role", action="append", help="viewer, streamer or admin (repeatable; default viewer)"
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds it lasts (default 3600)")


def _replay_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay", help="fold the event log again from offset zero and print digests"
    )
    replay.set_defaults(func=_replay)
    replay.add_argument("--clickhouse-prefix", help="table prefix (default: replay_<n>_)")
    replay.add_argument("--no-clickhouse", action="store_true", help="do not rebuild tables")
    replay.add_argument("--json", action="store_true", help="print the result as JSON")
    replay.add_argument(
        "--publish-state", metavar="NAME", help="also write states to livefold.NAME.state.*"
    )
    replay.add_argument(
        "--verify",
        action="store_true",
        help="compare with the live state topics and tables; exit 1 on any difference",
    )


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text}: give a time zone, e.g. {text}+00:00")
    return moment


def _events_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = commands.add_parser("events", help="read, export, import and count the event log")
    actions = events.add_subparsers(dest="action", required=True)
    tail = actions.add_parser("tail", help="print events as JSON lines as they arrive")
    tail.add_argument("--from-beginning", action="store_true", help="start at offset zero")
    tail.add_argument("--max", type=int, help="stop after this many events")
    export = actions.add_parser("export", help="write events to an Avro container or JSON lines")
    export.add_argument("output", type=Path)
    export.add_argument("--format", choices=("avro", "jsonl"), default="avro")
    imports = actions.add_parser("import", help="append a file's events the log lacks")
    imports.add_argument("input", type=Path)
    stats = actions.add_parser("stats", help="count events per topic and type")
    for action in (tail, export, imports, stats):
        action.set_defaults(func=_events)
        action.add_argument("--topic", action="append", help="an event topic (repeatable)")
        action.add_argument("--stream", help="only this stream id")
        action.add_argument("--type", action="append", help="record name, e.g. VoteCast")
        action.add_argument("--since", type=_moment, help="ISO time with zone, inclusive")
        action.add_argument("--until", type=_moment, help="ISO time with zone, exclusive")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="livefold", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole stack and the app").set_defaults(func=_run)
    commands.add_parser("stop", help="stop what `livefold run` started").set_defaults(func=_stop)
    _events_parser(commands)
    _replay_parser(commands)
    _auth_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command: Command = args.func
    return command(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
