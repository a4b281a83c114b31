"""Start-up work on a running stack: every topic exists and every schema is registered."""

from __future__ import annotations

from livefold.settings import Settings
from streams.codec import Codec
from streams.topics import TopicReport, ensure_topics


def provision(settings: Settings) -> tuple[TopicReport, dict[str, int]]:
    report = ensure_topics(settings)
    schema_ids = Codec.from_settings(settings).register_all()
    return report, schema_ids
