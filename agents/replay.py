"""`livefold replay`: rebuild every fold and the analytics tables from the event log.

Every event topic is read from offset zero to its current end (`read_to_end`, no consumer
group). Two processes share the work: this one folds every domain into fresh in-memory
states; a child rebuilds the ClickHouse tables under a fresh prefix (`replay_<n>_`) exactly
as the live sink writes them (`agents.analytics_rows`). The result is a digest per domain,
an overall digest and the rebuilt tables' figures, which equal the live ones for the same log.

Order. Each partition is folded in its own order, which a live run keeps too. The domains
of `livefold.domains` give the same states for any interleaving of topics (their folds are
built that way), so records are folded as they arrive. Moderation is not order-free across
topics: a verdict depends on the bans, terms and chat modes folded before the message. Replay
folds moderation's inputs in one deterministic order, a merge of the partitions by event
time: of the next record of every partition, the earliest `occurred_at` goes first (ties:
topic, partition, offset); each partition stays in its own order. A live moderation agent
meets the same order as long as an action's event reaches it before messages stamped after it;
when a message and a moderator action race (an action stamped before the message arrives after
it), the live verdict may differ. The verdict in the log is the decision that was made, so chat
(and tips and media, for tip messages and clip titles: ContentJudged) fold the logged verdicts
(never re-decided ones) and stay exact; replay counts the verdicts
it would decide differently (`verdicts.differing`) or that the log lacks (`verdicts.missing`).

Errors. Replay folds with the live workers' driver core (`agents.driver.fold_batch`), in chunks
of `CHUNK` records: an event a fold raises on leaves its state as it was, exactly as live, and
is listed in `failures` (the live worker dead-lettered it already; replay does not append it a
second time).
"""

from __future__ import annotations

import itertools
import multiprocessing
import re
import sys
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from agents.analytics_rows import EventsTable
from agents.analytics_schema import checked_prefix, ensure_schema, summary
from agents.driver import FoldFailure, fold_batch, merged
from agents.folds import configure_moderation
from livefold.analytics_store import clickhouse_client
from livefold.data_keys import text_opener
from livefold.domains import DOMAINS
from livefold.folding import Domain, Output, Update, digest
from livefold.moderation import fold as moderation
from livefold.moderation.derived_events import derived_id
from livefold.moderation.rules import Finding, Verdict
from livefold.moderation.state import PLATFORM
from livefold.settings import Settings
from streams.catalog import catalog
from streams.codec import Codec
from streams.consumer import Record, read_to_end
from streams.events import Event
from streams.producer import EventProducer

BATCH = 50_000  # rows per insert when rebuilding ClickHouse
CHUNK = 20_000  # records folded as one batch (a key's state is copied once per batch)
VERDICTS = frozenset({"livefold.moderation.VerdictIssued", moderation.CONTENT_JUDGED})
REPLAY_TABLE = re.compile(r"replay_([0-9]+)_events")
Tables = dict[str, dict[str, Any]]
Logged = tuple[str, str, float]  # a logged verdict: verdict, rule, score


@dataclass
class VerdictCheck:
    decided: int = 0  # verdicts replay's moderation decided
    matching: int = 0  # ... the log holds the same verdict
    differing: list[Event] = field(default_factory=list)  # logged with another verdict
    missing: list[Event] = field(default_factory=list)  # not in the log

    def as_dict(self) -> dict[str, Any]:
        return {
            "decided": self.decided,
            "matching": self.matching,
            "differing": len(self.differing),
            "missing": len(self.missing),
        }


@dataclass
class ReplayResult:
    events: int
    seconds: float
    fold_seconds: float  # reading and folding, while ClickHouse was rebuilt alongside
    tables: Tables  # domain -> key -> state
    digests: dict[str, str]
    digest: str
    verdicts: VerdictCheck
    last_updates: dict[tuple[str, str], Update]  # what the state topics would hold at the end
    failures: list[FoldFailure]  # events a fold raised on, which changed nothing
    clickhouse_prefix: str | None = None
    clickhouse: dict[str, dict[str, int]] | None = None
    clickhouse_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "fold_seconds": round(self.fold_seconds, 3),
            "states": {domain: len(states) for domain, states in self.tables.items()},
            "digests": self.digests,
            "digest": self.digest,
            "verdicts": self.verdicts.as_dict(),
            "failures": [
                {"event_id": f.record.event.event_id, "reason": f.reason} for f in self.failures
            ],
            "clickhouse_prefix": self.clickhouse_prefix,
            "clickhouse": self.clickhouse,
            "clickhouse_seconds": None
            if self.clickhouse_seconds is None
            else round(self.clickhouse_seconds, 3),
        }


class ReplayModeration:
    """`livefold.moderation.fold` reading the platform state from replay's own table."""

    CHANNEL = moderation.CHANNEL
    HANDLES = moderation.HANDLES
    FLUSH_EVERY = moderation.FLUSH_EVERY

    def __init__(
        self,
        states: dict[str, Any],
        texts: moderation.Texts = moderation.AS_WRITTEN,
        logged: Mapping[str, Logged] | None = None,
    ):
        self.states = states
        self.texts = texts
        self.logged = logged or {}

    def key_of(self, event: Event) -> str:
        return moderation.key_of(event)

    def fold(self, state: Any, event: Event) -> tuple[Any, list[Output]]:
        platform = self.states.get(PLATFORM)
        return moderation.fold(state, event, platform, texts=self.texts, logged=self._logged(event))

    def _logged(self, event: Event) -> Finding | None:
        """The logged verdict on a chat message: a text erased since is folded with it."""
        if event.type != moderation.MESSAGE_SENT:
            return None
        logged = self.logged.get(derived_id(event.event_id, "verdict"))
        if logged is None:
            return None
        verdict, rule, score = logged
        return Finding(rule, Verdict(verdict), score)

    def flush(self, state: Any, now: datetime) -> tuple[Any, list[Output]]:
        return moderation.flush(state, now)


class Replay:
    """Folds records a chunk at a time; moderation's inputs wait for the event-time merge."""

    def __init__(
        self,
        domains: Mapping[str, Domain] = DOMAINS,
        texts: moderation.Texts = moderation.AS_WRITTEN,
    ) -> None:
        self.domains = dict(domains)
        self.texts = texts  # opens sealed texts for moderation (livefold.data_keys)
        self.tables: Tables = {name: {} for name in [*self.domains, moderation.CHANNEL]}
        self.routes: dict[str, list[str]] = {}
        for name, domain in self.domains.items():
            for event_type in domain.HANDLES:
                self.routes.setdefault(event_type, []).append(name)
        self.held: dict[tuple[str, int], list[Record]] = {}  # moderation's inputs by partition
        self.logged: dict[str, Logged] = {}  # verdict event id -> the verdict, as logged
        self.last_updates: dict[tuple[str, str], Update] = {}
        self.failures: list[FoldFailure] = []
        self.events = 0
        self._chunk: list[Record] = []

    def add(self, record: Record) -> None:
        self.events += 1
        self._chunk.append(record)
        event = record.event
        if event.type in moderation.HANDLES:
            self.held.setdefault((record.topic, record.partition), []).append(record)
        elif event.type in VERDICTS:
            body = event.body
            verdict, rule = sys.intern(str(body.get("verdict"))), sys.intern(str(body.get("rule")))
            self.logged[event.event_id] = (verdict, rule, float(body.get("score") or 0.0))
        if len(self._chunk) >= CHUNK:
            self._fold_chunk()

    def _fold_chunk(self) -> None:
        inputs: dict[str, list[Record]] = {name: [] for name in self.domains}
        for record in self._chunk:
            for name in self.routes.get(record.event.type, ()):
                inputs[name].append(record)
        self._chunk = []
        for name, records in inputs.items():
            self._fold(name, self.domains[name], records)

    def _fold(self, name: str, domain: Domain, records: Iterable[Record]) -> list[Output]:
        outputs, failures = fold_batch(name, domain, records, self.tables[name])
        self.failures += failures
        for output in outputs:
            if isinstance(output, Update):
                self.last_updates[(output.channel, output.key)] = output
        return outputs

    def finish(self) -> VerdictCheck:
        """Fold what is left, then moderation in the merge order; compare its verdicts with
        the logged ones."""
        self._fold_chunk()
        check = VerdictCheck()
        domain = ReplayModeration(self.tables[moderation.CHANNEL], self.texts, self.logged)
        ordered = merged(self.held)
        while chunk := list(itertools.islice(ordered, CHUNK)):
            for output in self._fold(moderation.CHANNEL, domain, chunk):
                if isinstance(output, Event) and output.type in VERDICTS:
                    check.decided += 1
                    logged = self.logged.get(output.event_id)
                    if logged is None:
                        check.missing.append(output)
                    elif logged[0] == output.body["verdict"]:
                        check.matching += 1
                    else:
                        check.differing.append(output)
        self.held.clear()
        return check


def require_topics(settings: Settings) -> None:
    admin = AdminClient(settings.kafka_config())
    try:
        present = admin.list_topics(timeout=10).topics
    except KafkaException as error:
        raise RuntimeError(
            f"Kafka at {settings.kafka_bootstrap} did not answer ({error}); is it running?"
            " (LIVEFOLD_KAFKA_BOOTSTRAP_SERVERS / LIVEFOLD_KAFKA_PORT)"
        ) from error
    if missing := [topic for topic in catalog().topics() if topic not in present]:
        raise RuntimeError(
            f"event topics missing on Kafka at {settings.kafka_bootstrap}: {', '.join(missing)}"
            " (`livefold run` creates them)"
        )


def fresh_prefix(settings: Settings, prefix: str | None = None) -> str:
    """`prefix`, checked to name no existing table, or `replay_<n>_` one past the highest n."""
    try:
        client = clickhouse_client(settings, in_database=False)
        try:
            names = [
                name
                for (name,) in client.query(
                    "SELECT name FROM system.tables WHERE database = {db:String}",
                    parameters={"db": settings.clickhouse_database},
                ).result_rows
            ]
        finally:
            client.close()
    except ClickHouseError as error:
        raise RuntimeError(
            f"ClickHouse at {settings.clickhouse} failed ({error}); is it running?"
            " (LIVEFOLD_CLICKHOUSE_URL / LIVEFOLD_CLICKHOUSE_PORT, or replay --no-clickhouse)"
        ) from error
    if prefix is None:
        numbers = [int(found[1]) for name in names if (found := REPLAY_TABLE.fullmatch(name))]
        return f"replay_{max(numbers, default=0) + 1}_"
    if any(name.startswith(checked_prefix(prefix)) for name in names):
        raise ValueError(
            f"tables named {prefix}* exist in {settings.clickhouse_database}: "
            "give a fresh --clickhouse-prefix (or drop them first)"
        )
    return prefix


def rebuild_analytics(settings: Settings, prefix: str) -> tuple[dict[str, dict[str, int]], float]:
    """Read the log and write it into fresh tables under `prefix`, as the sink would."""
    started = time.perf_counter()
    client = clickhouse_client(settings, in_database=False)
    codec = Codec.from_settings(settings)
    deadletter = EventProducer(settings, codec)
    try:
        ensure_schema(client, settings.clickhouse_database, prefix)
        table = EventsTable(client, settings.clickhouse_database, prefix)
        batch: list[Record] = []
        for record in read_to_end(settings, codec, catalog().topics(), deadletter):
            batch.append(record)
            if len(batch) >= BATCH:
                table.write(batch)
                batch = []
        table.write(batch)
        return summary(client, settings.clickhouse_database, prefix), time.perf_counter() - started
    finally:
        deadletter.close()
        client.close()


def replay(
    settings: Settings,
    clickhouse_prefix: str | None = None,
    clickhouse: bool = True,
    domains: Mapping[str, Domain] = DOMAINS,
) -> ReplayResult:
    """Fold the whole log again; with `clickhouse`, rebuild the tables meanwhile."""
    started = time.perf_counter()
    require_topics(settings)
    configure_moderation(settings)  # the worker's signals, so verdicts compare
    prefix = fresh_prefix(settings, clickhouse_prefix) if clickhouse else None
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        rebuilt: Future[tuple[dict[str, dict[str, int]], float]] | None = None
        if prefix is not None:
            rebuilt = pool.submit(rebuild_analytics, settings, prefix)
        folding = Replay(domains, text_opener(settings))
        codec = Codec.from_settings(settings)
        deadletter = EventProducer(settings, codec)
        try:
            for record in read_to_end(settings, codec, catalog().topics(), deadletter):
                folding.add(record)
        finally:
            deadletter.close()
        check = folding.finish()
        digests = {name: digest({name: states}) for name, states in folding.tables.items()}
        fold_seconds = time.perf_counter() - started
        figures, clickhouse_seconds = rebuilt.result() if rebuilt is not None else (None, None)
    finally:
        pool.shutdown(cancel_futures=True)
    return ReplayResult(
        events=folding.events,
        seconds=time.perf_counter() - started,
        fold_seconds=fold_seconds,
        tables=folding.tables,
        digests=digests,
        digest=digest(folding.tables),
        verdicts=check,
        last_updates=folding.last_updates,
        failures=folding.failures,
        clickhouse_prefix=prefix,
        clickhouse=figures,
        clickhouse_seconds=clickhouse_seconds,
    )
