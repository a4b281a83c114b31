"""The `livefold` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from livefold.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def _run(_args: argparse.Namespace, settings: Settings) -> int:
    from infra.supervisor import Supervisor

    return Supervisor(settings).run()


def _stop(_args: argparse.Namespace, settings: Settings) -> int:
    from infra.supervisor import stop

    return stop(settings)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="livefold", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole stack and the app").set_defaults(func=_run)
    commands.add_parser("stop", help="stop what `livefold run` started").set_defaults(func=_stop)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command: Command = args.func
    return command(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
