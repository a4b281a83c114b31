"""`livefold replay --verify`: compare a replay with what is live, and list every difference.

Live means the fold workers' states, read from their changelog topics (the compacted state
topics behind their tables, `agents.inspect.live_states`: what every state topic record was
published from), and the figures of the live ClickHouse tables
(`agents.analytics_schema.summary`). Both sides are digested per domain
(`livefold.folding.digest`) and printed; every key whose facts differ, or that only one side
has, is listed with the fields that differ, and every table figure that differs.

Live is compared once the fold workers and the analytics sink have caught up with the log
(waited for up to `patience` seconds); a group still behind is reported as a difference.
Bookkeeping fields (`_seen`, what was last published) are no facts and are not compared: they
depend on the order topics were read in (docs/replay.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.analytics import GROUP, lag
from agents.analytics_schema import summary
from agents.folds import source_topics
from agents.inspect import live_states
from agents.replay import ReplayResult
from livefold.analytics_store import clickhouse_client
from livefold.folding import digest, facts
from livefold.settings import Settings

States = Mapping[str, Mapping[str, Any]]  # key -> state
KEYS_LISTED = 50  # differing keys listed per domain; the rest are counted


@dataclass
class Verification:
    live_digests: dict[str, str]  # domain -> digest of its live states
    replay_digests: dict[str, str]
    live_tables: dict[str, dict[str, int]] | None
    replay_tables: dict[str, dict[str, int]] | None
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "live_digests": self.live_digests,
            "replay_digests": self.replay_digests,
            "live_tables": self.live_tables,
            "replay_tables": self.replay_tables,
            "differences": self.differences,
        }


def verify(settings: Settings, result: ReplayResult, patience: float = 60.0) -> Verification:
    behind = _caught_up(settings, patience, check_sink=result.clickhouse is not None)
    live = live_states(settings)
    differences = []
    for domain in sorted(live.keys() | result.tables.keys()):
        differences += state_differences(
            domain, live.get(domain, {}), result.tables.get(domain, {})
        )
    live_tables = None
    if result.clickhouse is not None:
        client = clickhouse_client(settings)
        try:
            live_tables = summary(client, settings.clickhouse_database)
        finally:
            client.close()
        differences += table_differences(live_tables, result.clickhouse)
    return Verification(
        live_digests={name: digest({name: states}) for name, states in sorted(live.items())},
        replay_digests=dict(sorted(result.digests.items())),
        live_tables=live_tables,
        replay_tables=result.clickhouse,
        differences=behind + differences,
    )


def state_differences(domain: str, live: States, replayed: States) -> list[str]:
    found = []
    for key in sorted(live.keys() | replayed.keys()):
        here, there = live.get(key), replayed.get(key)
        if here is None:
            found.append(f"{domain} {key}: only the replay has it")
        elif there is None:
            found.append(f"{domain} {key}: only live has it")
        elif _canonical(facts(here)) != _canonical(facts(there)):
            found.append(f"{domain} {key}: {_fields_apart(facts(here), facts(there))}")
    if len(found) > KEYS_LISTED:
        found = [*found[:KEYS_LISTED], f"{domain}: {len(found) - KEYS_LISTED} more keys differ"]
    return found


def table_differences(
    live: dict[str, dict[str, int]], replayed: dict[str, dict[str, int]]
) -> list[str]:
    found = []
    for table in sorted(live.keys() | replayed.keys()):
        here, there = live.get(table, {}), replayed.get(table, {})
        for figure in sorted(here.keys() | there.keys()):
            if here.get(figure) != there.get(figure):
                found.append(
                    f"ClickHouse {table}.{figure}: live {here.get(figure)},"
                    f" replay {there.get(figure)}"
                )
    return found


def report(verification: Verification) -> str:
    lines = ["", f"  {'domain':<12} {'live':<64}  replay"]
    for name in sorted(verification.live_digests.keys() | verification.replay_digests.keys()):
        live = verification.live_digests.get(name, "-")
        again = verification.replay_digests.get(name, "-")
        mark = "" if live == again else "  DIFFERS"
        lines.append(f"  {name:<12} {live:<64}  {again}{mark}")
    if verification.live_tables is not None:
        lines.append("\nlive ClickHouse tables:")
        for table, figures in verification.live_tables.items():
            shown = ", ".join(f"{name}={value}" for name, value in figures.items())
            lines.append(f"  {table:<22} {shown}")
    if verification.ok:
        lines.append("\nverified: the live states and tables equal the replay's")
    else:
        lines.append(f"\n{len(verification.differences)} differences between live and replay:")
        lines += [f"  {difference}" for difference in verification.differences]
    return "\n".join(lines)


def _caught_up(settings: Settings, patience: float, check_sink: bool) -> list[str]:
    """Wait for the fold workers (and the sink) to have committed the whole log; what is left."""
    groups: dict[str, Callable[[], dict[tuple[str, int], int]]] = {
        settings.fold_group: lambda: lag(settings, settings.fold_group, source_topics())
    }
    if check_sink:
        groups[GROUP] = lambda: lag(settings, GROUP)
    deadline = time.monotonic() + patience
    behind: dict[str, int] = {}
    for group, measure in groups.items():
        while (missing := sum(measure().values())) and time.monotonic() < deadline:
            time.sleep(0.5)
        if missing:
            behind[group] = missing
    return [
        f"consumer group {group} is {count} events behind the log: live is not final"
        for group, count in behind.items()
    ]


def _canonical(value: Any) -> str:
    # Live states went through JSON (tuples became lists): compare both as JSON.
    return json.dumps(value, sort_keys=True, default=str)


def _fields_apart(here: dict[str, Any], there: dict[str, Any], limit: int = 200) -> str:
    names = sorted(
        n for n in here.keys() | there.keys() if _canonical(here.get(n)) != _canonical(there.get(n))
    )
    return "; ".join(
        f"{name}: live {_short(here.get(name), limit)}, replay {_short(there.get(name), limit)}"
        for name in names
    )


def _short(value: Any, limit: int) -> str:
    text = _canonical(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
