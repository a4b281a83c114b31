"""The events the moderation fold decides (verdicts), each with an id derived from the event
that caused it: a replay decides them again with the same ids, so they are counted once."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from livefold.moderation.rules import Finding, Verdict
from streams.events import SYSTEM_ACTOR, Event

_EVENT_IDS = uuid.UUID("6c1f0e2a-3b7d-4f5e-9a61-0d2c8b7e4f10")  # namespace of derived ids
_EVENT_ID_PREFIX = _EVENT_IDS.bytes


def derived_id(cause_id: str, what: str) -> str:
    """uuid5(namespace, "<cause>/<what>"), formatted without building UUID objects (hot path)."""
    h = hashlib.sha1(_EVENT_ID_PREFIX + f"{cause_id}/{what}".encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 0x3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def emitted(cause: Event, what: str, event_type: str, actor: str, **payload: Any) -> Event:
    """An event the fold decides, with an id derived from its cause: replay emits it again
    with the same id, so it is deduplicated downstream."""
    return Event(
        event_type,
        {
            "event_id": derived_id(cause.event_id, what),
            "stream_id": cause.stream_id,
            "actor_id": actor,
            "occurred_at": cause.occurred_at_ms,
            "trace_id": cause.trace_id,
            **payload,
        },
    )


def verdict(
    cause: Event,
    message_id: str,
    decided: Verdict,
    rule: str,
    score: float,
    actor: str = SYSTEM_ACTOR,
) -> Event:
    return emitted(
        cause,
        "verdict",
        "livefold.moderation.VerdictIssued",
        actor,
        message_id=message_id,
        verdict=decided.value,
        rule=rule,
        score=float(score),
    )


def content_verdict(cause: Event, subject: str, subject_id: str, finding: Finding) -> Event:
    """The verdict on a text besides chat (`livefold.moderation.ContentJudged`)."""
    return emitted(
        cause,
        "judged",
        "livefold.moderation.ContentJudged",
        SYSTEM_ACTOR,
        subject=subject,
        subject_id=subject_id,
        author_id=cause.actor_id,
        verdict=finding.verdict.value,
        rule=finding.rule,
        score=float(finding.score),
    )
