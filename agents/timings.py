"""Where a fold worker's time goes, per batch, summed up in its stats log every 10 s as
`fold timings {json}` (which `bench.fanout` reads): how long the oldest record of a batch had
been in Kafka when the batch reached the worker, the wait for the worker's lock (a timer's
flush, the batch before), decoding and folding, and the wait for the emitted events' acks."""

from __future__ import annotations

import json
import math

TIMINGS_MARK = "fold timings "


class Timings:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.samples.setdefault(stage, []).append(seconds)

    def report(self) -> str:
        """The stages since the last report, as `fold timings {json}` (ms), and start anew."""
        samples, self.samples = self.samples, {}
        summary = {stage: summarize(values) for stage, values in samples.items()}
        return TIMINGS_MARK + json.dumps(summary, separators=(",", ":"))


def summarize(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.floor(q * len(ordered)))] * 1000, 1)

    return {"n": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}
