"""The folds a worker runs, each with its Faust table, in the order a batch goes through them.

Moderation comes first: a chat message reaches the chat state topic only once moderation's
verdict allows it (`livefold.chat`), and running moderation first lets its verdicts reach chat
in the same batch. The verdicts are also appended to the moderation topic: that copy is what
replay folds, and the worker drops it when it comes back (`agents.worker`). Moderation reads
its inputs (several topics) in event-time order within a batch, the order replay uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import faust

from agents.driver import FoldDriver, FoldTable, WindowTable
from agents.platform import PlatformModeration
from agents.state_records import window_table
from livefold.domains import DOMAINS
from livefold.folding import Domain, Output
from livefold.moderation import fold as moderation
from livefold.moderation import scoring
from livefold.moderation.state import PLATFORM
from livefold.settings import Settings
from streams.catalog import catalog
from streams.events import Event

TABLES = [moderation.CHANNEL, *DOMAINS]  # each fold's table, moderation's first


class ModerationFold:
    """`livefold.moderation.fold` with the worker's copy of the platform state; role events
    only change the platform state (`agents.platform`), so the group does not read them."""

    CHANNEL = moderation.CHANNEL
    HANDLES = moderation.HANDLES - moderation.ROLE_EVENTS
    FLUSH_EVERY = moderation.FLUSH_EVERY
    REBUILT_FIELDS = moderation.REBUILT_FIELDS

    def __init__(
        self,
        platform: PlatformModeration,
        texts: moderation.Texts = moderation.AS_WRITTEN,
    ):
        self.platform = platform
        self.texts = texts  # opens texts sealed with their author's key

    def key_of(self, event: Event) -> str:
        return moderation.key_of(event)

    def fold(self, state: Any, event: Event) -> tuple[Any, list[Output]]:
        platform = self.platform.current
        return moderation.fold(state, event, platform, texts=self.texts)

    def flush(self, state: Any, now: datetime) -> tuple[Any, list[Output]]:
        return moderation.flush(state, now)


def tables(domains: Mapping[str, Domain] = DOMAINS) -> list[str]:
    return [moderation.CHANNEL, *domains]


def configure_moderation(settings: Settings) -> None:
    """The operator's classifier, if any, joins the verdicts' signals in this process."""
    scoring.configure(
        settings.moderation_model_path,
        settings.moderation_model_vocab,
        settings.moderation_model_category,
    )


def source_topics(domains: Mapping[str, Domain] = DOMAINS) -> list[str]:
    """The event topics the group consumes: those of the event types some fold takes."""
    types = set(ModerationFold.HANDLES).union(*(domain.HANDLES for domain in domains.values()))
    return sorted({catalog()[event_type].topic for event_type in types})


def changelog_tables(names: list[str]) -> list[str]:
    """Every table the folds `names` keep: each fold's states and its dedupe windows."""
    return [*names, *(window_table(name) for name in names)]


def fold_table(app: faust.App, name: str, partitions: int, kind: type[FoldTable]) -> FoldTable:
    table = kind(app, name, partitions, beacon=app.tables.beacon)
    app.tables.add(table)
    return table


def fold_driver(
    app: faust.App, name: str, domain: Domain, partitions: int, **kwargs: Any
) -> FoldDriver:
    window = fold_table(app, window_table(name), partitions, WindowTable)
    assert isinstance(window, WindowTable)
    table = fold_table(app, name, partitions, FoldTable)
    return FoldDriver(name, domain, table, window, **kwargs)


def drivers(
    app: faust.App,
    partitions: int,
    platform: PlatformModeration,
    domains: Mapping[str, Domain] = DOMAINS,
    texts: moderation.Texts = moderation.AS_WRITTEN,
) -> list[FoldDriver]:
    first = fold_driver(
        app,
        moderation.CHANNEL,
        ModerationFold(platform, texts),
        partitions,
        in_event_time_order=True,
        skips=lambda key: key == PLATFORM,  # folded by every worker, see agents.platform
    )
    return [first] + [
        fold_driver(app, name, domain, partitions) for name, domain in domains.items()
    ]
