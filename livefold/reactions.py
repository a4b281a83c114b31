"""Reactions per stream: counts per kind in 1-second windows of event time, plus running totals.

A burst of thousands of reactions a second becomes one update per stream per second: the open
window is published when an event of a later second closes it, or, if reactions stop, when a
timer's `flush` finds the window's second over (plus a grace for stragglers). A reaction that
arrives for a second before the open window is late: it counts in the totals only.

If a flush published a window and more reactions of that second arrive after all, the window
is published again, corrected, when it closes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from livefold.folding import Output, Update, apply, millis
from streams.events import Event

CHANNEL = "reactions"
REACTION_SENT = "livefold.reactions.ReactionSent"
HANDLES = frozenset({REACTION_SENT})
FLUSH_EVERY: float | None = 0.25

WINDOW_MS = 1_000
GRACE_MS = 250  # how long flush waits after a window's second for reactions still in flight


class ReactionState(TypedDict):
    stream_id: str
    window_start: int | None  # epoch ms of the open window's second
    window: dict[str, int]  # kind -> reactions in the open window
    window_total: int
    totals: dict[str, int]  # kind -> reactions ever
    total: int
    late: int  # reactions that came after their second's window had closed
    _seen: dict[str, None]
    _published: list[int]  # [window_start, window_total] last published; [-1, 0] for none


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: ReactionState | None, event: Event) -> tuple[ReactionState, list[Output]]:
    if state is None:
        state = ReactionState(
            stream_id=event.stream_id,
            window_start=None,
            window={},
            window_total=0,
            totals={},
            total=0,
            late=0,
            _seen={},
            _published=[-1, 0],
        )
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: ReactionState, now: datetime) -> tuple[ReactionState, list[Output]]:
    start = state["window_start"]
    if start is None or millis(now) < start + WINDOW_MS + GRACE_MS:
        return state, []
    return state, _publish(state)


def view(state: ReactionState) -> dict[str, object]:
    return {
        "stream_id": state["stream_id"],
        "window_start": state["window_start"],
        "window_ms": WINDOW_MS,
        "counts": dict(state["window"]),
        "window_total": state["window_total"],
        "totals": dict(state["totals"]),
        "total": state["total"],
    }


def _on_reaction(state: ReactionState, event: Event) -> list[Output]:
    body = event.body
    kind: str = body["kind"]
    count = int(body.get("count", 1))
    second = event.occurred_at_ms // WINDOW_MS * WINDOW_MS
    outputs: list[Output] = []
    start = state["window_start"]
    if start is None or second > start:
        if start is not None:
            outputs = _publish(state)
        state["window_start"] = second
        state["window"] = {kind: count}
        state["window_total"] = count
    elif second < start:
        state["late"] += count
    else:
        window = state["window"]
        window[kind] = window.get(kind, 0) + count
        state["window_total"] += count
    totals = state["totals"]
    totals[kind] = totals.get(kind, 0) + count
    state["total"] += count
    return outputs


def _publish(state: ReactionState) -> list[Output]:
    """The open window's update, unless exactly this window was already published."""
    published = [state["window_start"] or 0, state["window_total"]]
    if published == state["_published"]:
        return []
    state["_published"] = published
    return [Update(CHANNEL, state["stream_id"], view(state))]


_HANDLERS = {REACTION_SENT: _on_reaction}
