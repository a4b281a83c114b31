"""Pure fold throughput: a realistic mix of events through every domain's fold, in one process,
without Kafka (the ceiling a worker's agents can reach). `python -m bench.folds` prints it."""

from __future__ import annotations

import gc
import json
import time
from typing import Any

from bench.sessions import generate
from livefold.domains import DOMAINS
from livefold.folding import Domain, dumps
from livefold.settings import Settings


def fold_throughput(settings: Settings | None = None, count: int = 100_000) -> dict[str, Any]:
    events = generate(seed=2, streams=8, seconds=600, duplicates=0.01)[:count]
    routes: dict[str, list[tuple[Domain, dict[str, Any]]]] = {}
    tables: dict[str, dict[str, Any]] = {name: {} for name in DOMAINS}
    for name, domain in DOMAINS.items():
        for event_type in domain.HANDLES:
            routes.setdefault(event_type, []).append((domain, tables[name]))
    gc.collect()
    outputs = 0
    started = time.perf_counter()
    for event in events:
        for domain, states in routes.get(event.type, ()):
            key = domain.key_of(event)
            states[key], produced = domain.fold(states.get(key), event)
            outputs += len(produced)
    elapsed = time.perf_counter() - started
    sizes = [len(dumps(state)) for states in tables.values() for state in states.values()]
    return {
        "events": len(events),
        "seconds": round(elapsed, 3),
        "events_per_second": round(len(events) / elapsed),
        "folds_per_event": round(sum(len(routes.get(e.type, ())) for e in events) / len(events), 2),
        "outputs": outputs,
        "largest_state_bytes": max(sizes),
    }


BENCHMARKS = {"folds": fold_throughput}


if __name__ == "__main__":
    print(json.dumps(fold_throughput(), indent=2))
