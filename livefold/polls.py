"""Polls: one state per poll (keyed "<stream id>/<poll id>"), tallies and percentages.

A poll is created, opened, and closed either by a PollClosed event or by its deadline
(`closes_at`, or opening time plus its duration): a vote at or after the deadline is rejected,
and the first such vote closes the poll. Each viewer holds one vote per poll; voting again
replaces the earlier choice if the poll allows changes and is rejected otherwise. Once closed,
nothing changes a poll: its final result is immutable.

A poll whose deadline passes with no event after it is published as closed by `flush`, once
the deadline is `GRACE_MS` behind the timer's clock; a vote stamped before the deadline that
still comes later counts, and republishes the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Output, Refused, Rejected, Update, apply, millis
from streams.events import Event

CHANNEL = "polls"
POLL_CREATED = "livefold.polls.PollCreated"
POLL_OPENED = "livefold.polls.PollOpened"
VOTE_CAST = "livefold.polls.VoteCast"
POLL_CLOSED = "livefold.polls.PollClosed"
HANDLES = frozenset({POLL_CREATED, POLL_OPENED, VOTE_CAST, POLL_CLOSED})
FLUSH_EVERY: float | None = 0.1

GRACE_MS = 500


class Option(TypedDict):
    option_id: str
    text: str


class PollState(TypedDict):
    stream_id: str
    poll_id: str
    status: str  # "unknown" (not created yet) | "created" | "open" | "closed"
    question: str
    options: list[Option]
    multi_select: bool
    allow_vote_change: bool
    duration_ms: int
    opened_at: int | None
    closes_at: int | None
    closed_at: int | None
    close_reason: str | None
    votes: dict[str, list[str]]  # voter -> chosen option ids
    tally: dict[str, int]  # option id -> votes
    _seen: dict[str, None]
    _final_published: bool


def key_of(event: Event) -> str:
    return f"{event.stream_id}/{event.body.get('poll_id', '')}"


def fold(state: PollState | None, event: Event) -> tuple[PollState, list[Output]]:
    if state is None:
        state = PollState(
            stream_id=event.stream_id,
            poll_id=str(event.body.get("poll_id", "")),
            status="unknown",
            question="",
            options=[],
            multi_select=False,
            allow_vote_change=False,
            duration_ms=0,
            opened_at=None,
            closes_at=None,
            closed_at=None,
            close_reason=None,
            votes={},
            tally={},
            _seen={},
            _final_published=False,
        )
    return state, apply(state, event, _HANDLERS, CHANNEL, _key(state))


def flush(state: PollState, now: datetime) -> tuple[PollState, list[Output]]:
    closes_at = state["closes_at"]
    if (
        state["status"] != "open"
        or state["_final_published"]
        or closes_at is None
        or millis(now) < closes_at + GRACE_MS
    ):
        return state, []
    state["_final_published"] = True
    return state, [Update(CHANNEL, _key(state), view(state), urgent=True)]


def view(state: PollState) -> dict[str, Any]:
    voters = len(state["votes"])
    tally = state["tally"]
    closed = state["status"] == "closed" or state["_final_published"]
    return {
        "stream_id": state["stream_id"],
        "poll_id": state["poll_id"],
        "question": state["question"],
        "status": "closed" if closed else state["status"],
        "multi_select": state["multi_select"],
        "allow_vote_change": state["allow_vote_change"],
        "opened_at": state["opened_at"],
        "closes_at": state["closes_at"],
        "closed_at": state["closed_at"] if state["status"] == "closed" else state["closes_at"],
        "close_reason": state["close_reason"] or ("expired" if closed else None),
        "voters": voters,
        "options": [
            {
                **option,
                "votes": tally[option["option_id"]],
                "percent": round(100 * tally[option["option_id"]] / voters, 1) if voters else 0.0,
            }
            for option in state["options"]
        ],
    }


def _key(state: PollState) -> str:
    return f"{state['stream_id']}/{state['poll_id']}"


def _on_created(state: PollState, event: Event) -> list[Output]:
    if state["status"] != "unknown":
        raise Refused(f"poll {state['poll_id']} already exists")
    body = event.body
    options = [Option(option_id=o["option_id"], text=o["text"]) for o in body["options"]]
    option_ids = [option["option_id"] for option in options]
    if len(set(option_ids)) != len(option_ids) or not 2 <= len(options) <= 10:
        raise Refused("a poll needs 2..10 options with unique option ids")
    duration_ms = int(body["duration_seconds"]) * 1000
    state["status"] = "created"
    state["question"] = body["question"]
    state["options"] = options
    state["multi_select"] = bool(body.get("multi_select", False))
    state["allow_vote_change"] = bool(body.get("allow_vote_change", False))
    state["duration_ms"] = duration_ms
    state["tally"] = dict.fromkeys(option_ids, 0)
    return [Update(CHANNEL, _key(state), view(state))]


def _on_opened(state: PollState, event: Event) -> list[Output]:
    status = state["status"]
    if status != "created":
        raise Refused(_not_open_reason(state) if status != "open" else "the poll is already open")
    at = event.occurred_at_ms
    closes_at = event.body.get("closes_at")
    state["status"] = "open"
    state["opened_at"] = at
    state["closes_at"] = int(closes_at) if closes_at is not None else at + state["duration_ms"]
    return [Update(CHANNEL, _key(state), view(state), urgent=True)]


def _on_vote(state: PollState, event: Event) -> list[Output]:
    at = event.occurred_at_ms
    closes_at = state["closes_at"]
    if state["status"] == "open" and closes_at is not None and at >= closes_at:
        outputs = _close(state, closes_at, "expired")
        return [*outputs, Rejected(CHANNEL, _key(state), event, "the poll closed before this vote")]
    if state["status"] != "open":
        raise Refused(_not_open_reason(state))
    choice: list[str] = list(event.body["option_ids"])
    unknown = [option_id for option_id in choice if option_id not in state["tally"]]
    if unknown:
        raise Refused(f"not an option of this poll: {', '.join(unknown)}")
    if not choice or len(set(choice)) != len(choice):
        raise Refused("choose at least one option, each once")
    if len(choice) > 1 and not state["multi_select"]:
        raise Refused("this poll takes exactly one option")
    voter = event.actor_id
    earlier = state["votes"].get(voter)
    if earlier is not None:
        if sorted(earlier) == sorted(choice):
            return []
        if not state["allow_vote_change"]:
            raise Refused("this poll does not allow changing a vote")
        for option_id in earlier:
            state["tally"][option_id] -= 1
    for option_id in choice:
        state["tally"][option_id] += 1
    state["votes"][voter] = choice
    return [Update(CHANNEL, _key(state), view(state))]


def _on_closed(state: PollState, event: Event) -> list[Output]:
    status = state["status"]
    if status == "closed":
        return []  # already closed by its deadline or an earlier close: the result stays
    if status == "unknown":
        raise Refused(_not_open_reason(state))
    at = event.occurred_at_ms
    closes_at = state["closes_at"]
    closed_at = at if closes_at is None else min(at, closes_at)
    return _close(state, closed_at, str(event.body.get("reason") or "other"))


def _close(state: PollState, at: int, reason: str) -> list[Output]:
    state["status"] = "closed"
    state["closed_at"] = at
    state["close_reason"] = reason
    already_published = state["_final_published"]
    state["_final_published"] = True
    if already_published and reason == "expired":
        return []
    return [Update(CHANNEL, _key(state), view(state), urgent=True)]


def _not_open_reason(state: PollState) -> str:
    return {
        "unknown": f"there is no poll {state['poll_id']} in this stream",
        "created": "the poll is not open yet",
        "closed": "the poll is closed",
    }.get(state["status"], "the poll is not open")


_HANDLERS = {
    POLL_CREATED: _on_created,
    POLL_OPENED: _on_opened,
    VOTE_CAST: _on_vote,
    POLL_CLOSED: _on_closed,
}
