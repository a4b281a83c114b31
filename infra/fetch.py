"""`python -m infra.fetch`: download every server's jars into the cache, once."""

from __future__ import annotations

import sys
from collections.abc import Callable

from infra.errors import InfraError
from infra.jars import ensure_jars
from livefold.settings import Settings

JAVA_SERVERS = ("kafka", "s3proxy")


def run_fetch(fetch: Callable[[], None]) -> int:
    """A fetch command's exit code: a failure prints the InfraError alone, on stderr."""
    try:
        fetch()
    except InfraError as error:
        print(f"livefold: {error}", file=sys.stderr)
        return 1
    return 0


def fetch_jars() -> None:
    settings = Settings()
    for name in JAVA_SERVERS:
        print(f"livefold: {name} jars in {ensure_jars(name, settings.cache_dir, settings.mvn)}")


def main() -> int:
    return run_fetch(fetch_jars)


if __name__ == "__main__":
    sys.exit(main())
