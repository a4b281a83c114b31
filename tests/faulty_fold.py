"""A fold with a bug, for the tests of the fold driver's error rule: it counts a stream's chat
messages, and on the message whose text is `BOOM` it raises after changing its state, as a
fold with a real bug would. Likewise `platform_fold`, the platform moderation state's fold
(agents/platform.py): the real one, except that it raises on a role granted to a user whose id
starts with `PLATFORM_BOOM`. `python -m tests.faulty_fold worker` runs a fold worker with both
next to the real folds."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from livefold.domains import DOMAINS
from livefold.folding import SEEN, Domain, Output, remember, seen_before
from livefold.moderation import fold as moderation
from livefold.moderation.state import ModerationState
from streams.events import Event

CHANNEL = "chat"  # its rejections reach their authors as chat's do
HANDLES = frozenset({"livefold.chat.MessageSent"})
FLUSH_EVERY = None
BOOM = "this message makes the faulty fold raise"
NAME = "faulty"
PLATFORM_BOOM = "platform-boom-"


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: Any, event: Event) -> tuple[Any, list[Output]]:
    if state is None:
        state = {"stream_id": event.stream_id, "messages": 0, "texts": [], SEEN: {}}
    if seen_before(state, event):
        return state, []
    remember(state, event)
    state["messages"] += 1
    state["texts"].append(event.body["text"])
    if event.body["text"] == BOOM:
        raise RuntimeError("a bug that shows on this one message")
    return state, []


def flush(state: Any, now: datetime) -> tuple[Any, list[Output]]:
    return state, []


def platform_fold(
    state: ModerationState | None, event: Event
) -> tuple[ModerationState, list[Output]]:
    state, outputs = moderation.fold(state, event)
    if str(event.body.get("user_id", "")).startswith(PLATFORM_BOOM):
        raise RuntimeError("a bug that shows on this one role")
    return state, outputs


def domains() -> dict[str, Domain]:
    """The real folds and this one."""
    return {**DOMAINS, NAME: sys.modules[__name__]}  # type: ignore[dict-item]


if __name__ == "__main__":
    from agents.__main__ import main

    sys.exit(main(domains=domains(), platform_fold=platform_fold))
