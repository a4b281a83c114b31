"""What writing fold states costs the fold worker: 40 busy streams' events (the worker
benchmark's session) folded in fetch-sized batches through `agents.driver.fold_batch`, in one
process, without Kafka. After each batch every changed state is encoded for the changelog two
ways: whole, one JSON blob carrying the dedupe window of up to 12,500 event ids (how states
were written before), and as `agents.state_records` writes it (the view, and only the window
chunks the batch appended to). `python -m bench fold_state_writes`."""

from __future__ import annotations

import gc
import json
import time
from typing import Any

from agents.driver import fold_batch
from agents.state_records import ChangelogFormat, StateRecords
from bench.sessions import generate
from livefold.domains import DOMAINS
from livefold.folding import SEEN, dumps
from livefold.settings import Settings
from streams.consumer import Record

FORMAT = ChangelogFormat({"v": b"\x00\x00\x00\x00\x01", "w": b"\x00\x00\x00\x00\x02"})


def fold_state_writes(
    settings: Settings | None = None, streams: int = 40, seconds: int = 600, batch: int = 2000
) -> dict[str, Any]:
    events = generate(seed=3, streams=streams, seconds=seconds, verdicts=False)
    records = [Record(event, "events", 0, offset) for offset, event in enumerate(events)]
    tables: dict[str, dict[str, Any]] = {name: {} for name in DOMAINS}
    split = {name: StateRecords() for name in DOMAINS}
    fold_s = whole_s = split_s = 0.0
    whole_bytes = split_bytes = seen_bytes = writes = 0
    gc.collect()
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        touched: dict[str, dict[str, Any]] = {}
        began = time.perf_counter()
        for name, domain in DOMAINS.items():
            mine = [r for r in chunk if r.event.type in domain.HANDLES]
            touched[name] = {}
            fold_batch(name, domain, mine, touched[name], tables[name].get)
            tables[name].update(touched[name])
        folded = time.perf_counter()
        blobs = [dumps(state) for states in touched.values() for state in states.values()]
        encoded_whole = time.perf_counter()
        parts = [
            (FORMAT.view("v", view), [FORMAT.chunk("w", record) for _, record in chunks])
            for name, states in touched.items()
            for key, state in states.items()
            for view, chunks in [split[name].encode(key, state)]
        ]
        encoded_split = time.perf_counter()
        fold_s += folded - began
        whole_s += encoded_whole - folded
        split_s += encoded_split - encoded_whole
        writes += len(blobs)
        whole_bytes += sum(len(blob) for blob in blobs)
        split_bytes += sum(len(view) + sum(len(c or b"") for c in cs) for view, cs in parts)
        seen_bytes += sum(
            len(blob) - len(dumps({**state, SEEN: {}}))
            for blob, state in zip(
                blobs, (s for states in touched.values() for s in states.values()), strict=True
            )
        )
    return {
        "events": len(events),
        "streams": streams,
        "batch": batch,
        "state_writes": writes,
        "fold_seconds": round(fold_s, 2),
        "whole": {
            "encode_seconds": round(whole_s, 2),
            "share_of_batch_time": round(whole_s / (fold_s + whole_s), 3),
            "changelog_mb": round(whole_bytes / 1e6, 1),
            "dedupe_window_share_of_bytes": round(seen_bytes / whole_bytes, 3),
        },
        "split": {
            "encode_seconds": round(split_s, 2),
            "share_of_batch_time": round(split_s / (fold_s + split_s), 3),
            "changelog_mb": round(split_bytes / 1e6, 1),
        },
    }


BENCHMARKS = {"fold_state_writes": fold_state_writes}


if __name__ == "__main__":
    print(json.dumps(fold_state_writes(), indent=2))
