"""How fold outputs travel on the compacted state topics `livefold.state.<channel>.v1`, and back.

A record's Kafka key is the output's key; its value is JSON:
`{"kind": "update"|"notice"|"rejected", "channel", "key", "stream_id", "type", "value"}`.
Keys start with the stream id (`<stream_id>` or `<stream_id>/<more>`), so a gateway routes a
record to the stream's subscribers without decoding anything else. An update supersedes earlier
records of its key (compaction keeps the last); a notice (a chat line, a tip alert) gets the key
`<key>#notice`, so it never replaces the view of its stream and only the last notice of a key
outlives compaction: replaying missed notices reads the topic's recent offsets, which compaction
does not touch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from livefold.folding import Notice, Rejected, Update
from streams.catalog import state_topic

STATE_OUTPUTS = (Update, Notice, Rejected)


@dataclass(frozen=True, slots=True)
class StateRecord:
    topic: str
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class StateMessage:
    kind: str
    channel: str
    key: str
    stream_id: str
    type: str | None
    value: dict[str, Any]


def stream_of(key: str) -> str:
    return key.split("/", 1)[0].split("#", 1)[0]


def to_record(output: Update | Notice | Rejected) -> StateRecord:
    if isinstance(output, Update):
        kind, key, kind_type = "update", output.key, None
    elif isinstance(output, Notice):
        kind, key, kind_type = "notice", f"{output.key}#notice", output.kind
    else:
        kind, key, kind_type = "rejected", f"{output.key}#rejected", output.event.type
    body = {
        "kind": kind,
        "channel": output.channel,
        "key": output.key,
        "stream_id": stream_of(output.key),
        "type": kind_type,
        "value": output.value,
    }
    value = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return StateRecord(state_topic(output.channel), key, value)


def from_record(value: bytes) -> StateMessage:
    try:
        body = json.loads(value)
        return StateMessage(
            body["kind"],
            body["channel"],
            body["key"],
            body["stream_id"],
            body["type"],
            body["value"],
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a livefold state record: {error!r}") from error
