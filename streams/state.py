"""How fold outputs travel on the compacted state topics `livefold.state.<channel>.v1`, and back.

A record's Kafka key is the output's key; its value is a `livefold.state.StateRecord` in
Confluent's wire format (magic byte, the registry's schema id, Avro), registered under
`<topic>-livefold.state.StateRecord` like the events: `{"kind": "update"|"notice"|"rejected",
"channel", "key", "stream_id", "type", "value"}`, with `value` the view as JSON text (views
differ per channel and grow fields; JSON keeps them one schema). So any Confluent consumer
(`AvroDeserializer`) reads them. Records written before this format (plain JSON) still read.
Keys start with the stream id (`<stream_id>` or `<stream_id>/<more>`), so a gateway routes a
record to the stream's subscribers without decoding anything else. An update supersedes earlier
records of its key (compaction keeps the last); a notice (a chat line, a tip alert) gets the key
`<key>#notice`, so it never replaces the view of its stream and only the last notice of a key
outlives compaction: replaying missed notices reads the topic's recent offsets, which compaction
does not touch.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fastavro

from livefold.folding import Notice, Rejected, Update, dumps
from streams.catalog import STATE_TOPICS, state_topic

if TYPE_CHECKING:
    from streams.codec import Codec

STATE_RECORD_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "StateRecord",
    "namespace": "livefold.state",
    "doc": "A fold output on a state topic: a view's update, a notice or a rejection.",
    "fields": [
        {"name": "kind", "type": "string", "doc": "update, notice or rejected"},
        {"name": "channel", "type": "string", "doc": "The state channel, e.g. chat."},
        {"name": "key", "type": "string", "doc": "The view's key; starts with the stream id."},
        {"name": "stream_id", "type": "string", "doc": "The stream the record belongs to."},
        {
            "name": "type",
            "type": ["null", "string"],
            "default": None,
            "doc": "A notice's kind, or the rejected event's type; null for an update.",
        },
        {"name": "value", "type": "string", "doc": "The view, notice or rejection as JSON."},
    ],
}
STATE_RECORD = "livefold.state.StateRecord"
_PARSED = fastavro.parse_schema(STATE_RECORD_SCHEMA)
_MAGIC = 0

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


def body_of(output: Update | Notice | Rejected) -> dict[str, Any]:
    if isinstance(output, Update):
        kind, kind_type = "update", None
    elif isinstance(output, Notice):
        kind, kind_type = "notice", output.kind
    else:
        kind, kind_type = "rejected", output.event.type
    return {
        "kind": kind,
        "channel": output.channel,
        "key": output.key,
        "stream_id": stream_of(output.key),
        "type": kind_type,
        "value": output.value,
    }


def record_key(output: Update | Notice | Rejected) -> str:
    if isinstance(output, Update):
        return output.key
    return f"{output.key}#{'notice' if isinstance(output, Notice) else 'rejected'}"


class StateWriter:
    """Fold outputs as state records, under the schema ids the registry gave each topic."""

    def __init__(self, headers: dict[str, bytes]):
        self.headers = headers  # channel -> magic byte + schema id

    @classmethod
    def registered(cls, codec: Codec) -> StateWriter:
        """Register the record schema for every state topic (idempotent) and use it."""
        schema = json.dumps(STATE_RECORD_SCHEMA)
        headers = {}
        for channel in STATE_TOPICS:
            schema_id = codec.register(f"{state_topic(channel)}-{STATE_RECORD}", schema)
            headers[channel] = bytes([_MAGIC]) + schema_id.to_bytes(4, "big")
        return cls(headers)

    def record(self, output: Update | Notice | Rejected) -> StateRecord:
        body = body_of(output)
        body["value"] = dumps(body["value"]).decode()  # compact JSON, as fold states are
        out = io.BytesIO()
        out.write(self.headers[output.channel])
        fastavro.schemaless_writer(out, _PARSED, body)
        return StateRecord(state_topic(output.channel), record_key(output), out.getvalue())


def from_record(value: bytes) -> StateMessage:
    try:
        if value[:1] == bytes([_MAGIC]):
            body: Any = _read_avro(value)
            body["value"] = json.loads(body["value"])
        else:  # written before state records had a schema
            body = json.loads(value)
        return StateMessage(
            body["kind"],
            body["channel"],
            body["key"],
            body["stream_id"],
            body["type"],
            body["value"],
        )
    except (ValueError, KeyError, TypeError, EOFError, IndexError) as error:
        raise ValueError(f"not a livefold state record: {error!r}") from error


def _read_avro(value: bytes) -> Any:
    try:
        return fastavro.schemaless_reader(io.BytesIO(value[5:]), _PARSED, None)
    except Exception as error:  # fastavro reports bad bytes with many exception types
        raise ValueError(f"bad Avro: {error!r}") from error
