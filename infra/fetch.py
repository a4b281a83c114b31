"""`python -m infra.fetch`: download every server's jars into the cache, once."""

from __future__ import annotations

import sys

from infra.errors import InfraError
from infra.jars import ensure_jars
from livefold.settings import Settings

JAVA_SERVERS = ("kafka", "s3proxy")


def main() -> int:
    settings = Settings()
    try:
        for name in JAVA_SERVERS:
            print(f"livefold: {name} jars in {ensure_jars(name, settings.cache_dir, settings.mvn)}")
    except InfraError as error:
        print(f"livefold: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
