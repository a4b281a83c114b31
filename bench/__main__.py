from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    analytics,
    backbone,
    fanout,
    fold_state,
    guarantees,
    media_hls,
    media_webrtc,
    moderation,
    presence,
    workers,
)
from bench import gateway as gateway_bench
from infra.service import running
from infra.stack import ephemeral_settings, infrastructure
from livefold.settings import Settings

Benchmark = Callable[[Settings], dict[str, Any]]
BENCHMARKS: dict[str, Benchmark] = {
    **backbone.BENCHMARKS,
    **moderation.BENCHMARKS,
    **analytics.BENCHMARKS,
    **workers.BENCHMARKS,
    **gateway_bench.BENCHMARKS,
    **presence.BENCHMARKS,
    **fanout.BENCHMARKS,
    **fold_state.BENCHMARKS,
    **guarantees.BENCHMARKS,
    **media_hls.BENCHMARKS,
    **media_webrtc.BENCHMARKS,
}
RESULTS = Path(__file__).resolve().parent / "results"


def run_alone(name: str) -> dict[str, Any]:
    """One benchmark on a fresh stack of its own, so that what an earlier benchmark left in the
    topics (a worker would fold it too) cannot change what this one measures."""
    with tempfile.TemporaryDirectory(prefix="livefold-bench-") as data_dir:
        settings = ephemeral_settings(Path(data_dir))
        logs = Path(data_dir) / "logs"
        logs.mkdir()
        with running(
            infrastructure(settings), output=lambda s: (logs / f"{s.name}.log").open("ab")
        ):
            started = time.time()
            result = BENCHMARKS[name](settings)
    return {
        "benchmark": name,
        "started_at": started,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": result,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHMARKS)}; default: all")
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        document = run_alone(name)
        (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        print(json.dumps(document, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
