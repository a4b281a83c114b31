"""Stream keys: the secret an encoder (OBS, ffmpeg, a browser) presents to go live.

One key per streamer at a time. Rotating appends `livefold.media.StreamKeyRotated`, keyed by
the streamer's user id, carrying a public key id and the key's SHA-256, never the key; the newest
rotation in the log is the key in force, so replaying the log rebuilds exactly which key works.
A key is 256 random bits, so a fast hash is as safe as a slow one, and it lets an RTMP door find
the streamer from the key alone.

`Directory` is what the media service folds from the log to admit a publisher: each streamer's
key hash and each stream's streamer and status (from the stream events it already reads), and
each stream's latest ingest with the media process that held it, so a media process restarted
after a crash finds the ingests it left open (`left_by`), and each stream's co-streaming
invitations (folded by `livefold.guests`, the stream fold's own rules, mutes included), so a
guest with an accepted invitation may publish onto the stage (`admit_guest`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from livefold import guests
from livefold.folding import Refused
from livefold.guests import Guest
from livefold.stream import CREATED, ENDED, WENT_LIVE
from streams.events import Event

STREAM_KEY_ROTATED = "livefold.media.StreamKeyRotated"
INGEST_STARTED = "livefold.media.IngestStarted"
INGEST_STOPPED = "livefold.media.IngestStopped"
HANDLES = frozenset(
    {STREAM_KEY_ROTATED, CREATED, WENT_LIVE, ENDED, INGEST_STARTED, INGEST_STOPPED} | guests.HANDLES
)
STAGE_STATUSES = frozenset({"accepted", "live"})  # may publish onto the stage
KEY_PREFIX = "lfsk_"  # makes a leaked key recognisable to secret scanners


def new_key() -> tuple[str, str]:
    """(key id, key): the id is public, the key is shown to the streamer once."""
    return f"key-{secrets.token_hex(6)}", KEY_PREFIX + secrets.token_urlsafe(32)


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def fingerprint(key: str) -> str:
    """What logs may show of a presented key: enough to tell two attempts apart, no more."""
    return sha256(key)[:12]


class NotFound(Refused):
    """The stream does not exist (as far as the log has been read)."""


class WrongKey(Refused):
    """No key, another streamer's key, or a key rotated away."""


class Finished(Refused):
    """The stream has ended: it cannot go live again."""


@dataclass
class StreamEntry:
    streamer: str
    status: str  # "scheduled" | "live" | "ended"
    live_at: int | None = None  # when it went live (ms)


@dataclass
class Ingest:
    """A stream's latest ingest: which media process held it, and whether it is still open."""

    ingest_id: str
    instance: str | None  # None: logged before ingests named their process
    open: bool = True


@dataclass
class Directory:
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # user -> (key id, sha256)
    streams: dict[str, StreamEntry] = field(default_factory=dict)
    ingests: dict[str, Ingest] = field(default_factory=dict)  # stream id -> its latest ingest
    invitations: dict[str, dict[str, Guest]] = field(default_factory=dict)  # stream -> invites

    def fold(self, event: Event) -> None:
        """Take one event; events of one key arrive in log order, which is all this relies on."""
        body = event.body
        if event.type == STREAM_KEY_ROTATED:
            self.keys[event.stream_id] = (str(body["key_id"]), str(body["key_sha256"]))
        elif event.type == CREATED:
            self.streams.setdefault(event.stream_id, StreamEntry(event.actor_id, "scheduled"))
        elif event.type in (WENT_LIVE, ENDED):
            entry = self.streams.get(event.stream_id)
            if entry is not None and entry.status != "ended":
                entry.status = "live" if event.type == WENT_LIVE else "ended"
                if event.type == WENT_LIVE:
                    entry.live_at = event.occurred_at_ms
        elif event.type == INGEST_STARTED:
            instance = body.get("media_instance")
            self.ingests[event.stream_id] = Ingest(str(body["ingest_id"]), instance)
        elif event.type in guests.HANDLES:
            with contextlib.suppress(Refused):  # the stream fold refuses it the same way
                guests.fold_guest(self.invitations.setdefault(event.stream_id, {}), event)
        elif event.type == INGEST_STOPPED:
            ingest = self.ingests.get(event.stream_id)
            if ingest is not None and ingest.ingest_id == body["ingest_id"]:
                ingest.open = False

    def left_by(self, instance: str) -> list[tuple[str, Ingest, StreamEntry]]:
        """(stream id, ingest, stream) for each stream whose latest ingest `instance` held and
        that it left unfinished: the ingest still open, or the stream still live. A media
        process that starts again after a crash closes these; ingests logged without a process
        count as its own (one media process per deployment before they were named)."""
        left = []
        for stream_id, ingest in self.ingests.items():
            entry = self.streams.get(stream_id)
            if entry is None or ingest.instance not in (instance, None):
                continue
            if ingest.open or entry.status == "live":
                left.append((stream_id, ingest, entry))
        return left

    def admit(self, stream_id: str, presented: str | None) -> StreamEntry:
        """The stream a publisher may feed with `presented`, or a refusal saying why (never
        echoing the key)."""
        entry = self.streams.get(stream_id)
        if entry is None:
            raise NotFound(f"stream {stream_id!r} does not exist")
        if not presented:
            raise WrongKey("send 'Authorization: Bearer <stream key>'")
        current = self.keys.get(entry.streamer)
        if current is None or not hmac.compare_digest(current[1], sha256(presented)):
            raise WrongKey(f"not the current stream key of stream {stream_id!r}'s streamer")
        if entry.status == "ended":
            raise Finished(f"stream {stream_id!r} has ended; create a new stream to go live")
        return entry

    def admit_key(self, presented: str) -> tuple[str, StreamEntry]:
        """The stream a key alone may publish to (an RTMP URL names no stream): the newest
        stream of the key's streamer that has not ended."""
        digest = sha256(presented)
        streamer = next(
            (
                user
                for user, (_, hashed) in self.keys.items()
                if hmac.compare_digest(hashed, digest)
            ),
            None,
        )
        if not presented or streamer is None:
            raise WrongKey("not a current stream key")
        open_streams = [
            stream_id
            for stream_id, entry in self.streams.items()
            if entry.streamer == streamer and entry.status != "ended"
        ]
        if not open_streams:
            raise NotFound("the key's streamer has no stream that has not ended: create one")
        return open_streams[-1], self.streams[open_streams[-1]]

    def admit_guest(self, stream_id: str, user_id: str) -> tuple[StreamEntry, Guest]:
        """A guest may publish onto a stage it has an accepted invitation to (or is on)."""
        entry = self.streams.get(stream_id)
        if entry is None:
            raise NotFound(f"stream {stream_id!r} does not exist")
        if entry.status == "ended":
            raise Finished(f"stream {stream_id!r} has ended")
        invitation = self.guest(stream_id, user_id)
        if invitation is None or invitation["status"] not in STAGE_STATUSES:
            status = "no invitation" if invitation is None else f"invitation {invitation['status']}"
            raise WrongKey(
                f"{user_id} has no accepted invitation to stream {stream_id!r} ({status})"
            )
        return entry, invitation

    def guest(self, stream_id: str, user_id: str) -> Guest | None:
        """The user's latest invitation to the stream."""
        found = [
            g for g in self.invitations.get(stream_id, {}).values() if g["guest_id"] == user_id
        ]
        return found[-1] if found else None

    def key_id_of(self, streamer: str) -> str | None:
        current = self.keys.get(streamer)
        return None if current is None else current[0]
