"""Clips and recordings (VODs) per stream, as the public listings show them, keyed
`<stream>/clip/<clip_id>` and `<stream>/vod/<recording_id>`; and the stream's ingest as the media
service measured it when video started (`<stream>/ingest`: protocol, codec, size, fps; then
its latest health while live, `livefold.media.IngestHealth`: input bitrate, fps, dropped frames;
then when and why it stopped), the stream health the control panel shows for any encoder.

A recording is listed when it finishes. A clip is listed once moderation allowed it: the
moderation fold judges its title and its author by chat's rules (`livefold.moderation.
ContentJudged`, subject "clip_title"), so a clip with an abusive title, or cut by a banned or
timed-out user, is never listed; a held one stays unlisted too (clips have no review queue).
Clips and verdicts travel on different topics, so either may come first: each waits for the
other, and the state is the same whichever came first.

A clip's listing carries its `status`: "processing" until the media service cut it, then "ready"
(`livefold.media.ClipReady`: the MP4's and thumbnail's S3 keys, the cut's real start and
duration) or "failed" (`livefold.media.ClipFailed`, with the reason). The media service appends
those after the clip's ClipCreated on the same topic and key, so they never come before it; an
allowed clip still being cut is kept until its outcome comes, to list it again with it. A
recording's listing carries `started_at`, when its ingest started: offsets into it count from
there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from livefold.folding import Output, Update, apply, bounded
from streams.events import Event

CHANNEL = "media"
CLIP_CREATED = "livefold.media.ClipCreated"
CLIP_READY = "livefold.media.ClipReady"
CLIP_FAILED = "livefold.media.ClipFailed"
THUMBNAIL_CAPTURED = "livefold.media.ThumbnailCaptured"
RECORDING_FINISHED = "livefold.media.RecordingFinished"
CONTENT_JUDGED = "livefold.moderation.ContentJudged"
INGEST_STARTED = "livefold.media.IngestStarted"
INGEST_STOPPED = "livefold.media.IngestStopped"
INGEST_HEALTH = "livefold.media.IngestHealth"
HANDLES = frozenset(
    {CLIP_CREATED, RECORDING_FINISHED, CONTENT_JUDGED, INGEST_STARTED, INGEST_STOPPED}
    | {CLIP_READY, CLIP_FAILED, INGEST_HEALTH}
)
FLUSH_EVERY: float | None = None

WAITING_LIMIT = 10_000  # clips without a verdict, and verdicts without their clip, each


class MediaState(TypedDict):
    stream_id: str
    waiting: dict[str, dict[str, Any]]  # clip id -> its listing, until moderation judged it
    verdicts: dict[str, str]  # clip id -> verdict that came before its clip
    cutting: dict[str, dict[str, Any]]  # clip id -> listing of an allowed clip not cut yet
    listed: int  # clips listed so far
    ingest: dict[str, Any] | None  # the latest ingest's view
    started: dict[str, int]  # ingest (recording) id -> when it started
    _seen: dict[str, None]


def key_of(event: Event) -> str:
    return event.stream_id


def fold(state: MediaState | None, event: Event) -> tuple[MediaState, list[Output]]:
    if state is None:
        state = MediaState(
            stream_id=event.stream_id,
            waiting={},
            verdicts={},
            cutting={},
            listed=0,
            ingest=None,
            started={},
            _seen={},
        )
    state.setdefault("ingest", None)  # states stored before ingests were folded
    state.setdefault("cutting", {})  # and before clips were cut
    state.setdefault("started", {})
    return state, apply(state, event, _HANDLERS, CHANNEL, state["stream_id"])


def flush(state: MediaState, now: datetime) -> tuple[MediaState, list[Output]]:
    return state, []


def listing(event: Event) -> dict[str, Any]:
    """What the listings show of a clip or recording: its fields, who made it and when."""
    return {
        "stream_id": event.stream_id,
        "by": event.actor_id,
        "at": event.occurred_at_ms,
        **event.payload(),
    }


def _on_clip(state: MediaState, event: Event) -> list[Output]:
    clip_id = str(event.body["clip_id"])
    clip = {**listing(event), "status": "processing"}
    verdict = state["verdicts"].pop(clip_id, None)
    if verdict is None:
        state["waiting"][clip_id] = clip
        state["waiting"] = bounded(state["waiting"], WAITING_LIMIT)
        return []
    return _judged(state, clip_id, clip, verdict)


def _on_cut(state: MediaState, event: Event) -> list[Output]:
    """The media service's outcome: merged into the clip's listing wherever it waits."""
    outcome = dict(event.payload())
    clip_id = str(outcome.pop("clip_id"))
    if event.type == CLIP_READY:  # the cut's real range: its start is a keyframe
        outcome["end_offset_ms"] = outcome["start_offset_ms"] + outcome["duration_ms"]
    outcome["status"] = "ready" if event.type == CLIP_READY else "failed"
    outcome["cut_at"] = event.occurred_at_ms
    if clip_id in state["waiting"]:
        state["waiting"][clip_id].update(outcome)
        return []
    clip = state["cutting"].pop(clip_id, None)
    if clip is None:
        return []  # not allowed (so never listed), or its outcome already came
    clip.update(outcome)
    return [Update(CHANNEL, f"{state['stream_id']}/clip/{clip_id}", clip)]


def _on_recording(state: MediaState, event: Event) -> list[Output]:
    recording_id = str(event.body["recording_id"])
    key = f"{state['stream_id']}/vod/{recording_id}"
    started_at = state["started"].get(recording_id)  # None: its ingest is not in the log
    return [Update(CHANNEL, key, {**listing(event), "started_at": started_at})]


def _on_judged(state: MediaState, event: Event) -> list[Output]:
    body = event.body
    if body["subject"] != "clip_title":
        return []
    clip_id, verdict = str(body["subject_id"]), str(body["verdict"])
    waiting = state["waiting"].pop(clip_id, None)
    if waiting is None:
        state["verdicts"][clip_id] = verdict
        state["verdicts"] = bounded(state["verdicts"], WAITING_LIMIT)
        return []
    return _judged(state, clip_id, waiting, verdict)


def _judged(state: MediaState, clip_id: str, clip: dict[str, Any], verdict: str) -> list[Output]:
    if verdict != "allow":
        return []
    state["listed"] += 1
    if clip["status"] == "processing":
        state["cutting"][clip_id] = clip
        state["cutting"] = bounded(state["cutting"], WAITING_LIMIT)
    return [Update(CHANNEL, f"{state['stream_id']}/clip/{clip_id}", dict(clip))]


def _on_ingest_started(state: MediaState, event: Event) -> list[Output]:
    body = event.body
    ingest = {
        "stream_id": state["stream_id"],
        "ingest_id": body["ingest_id"],
        "status": "live",
        "protocol": body.get("protocol") or "other",
        "codec": body["codec"],
        "width": body["width"],
        "height": body["height"],
        "fps": body["fps"],
        "audio_codec": body.get("audio_codec"),
        "bitrate_kbps": None,  # until its first IngestHealth
        "dropped_frames": 0,
        "health_at": None,
        "started_at": event.occurred_at_ms,
        "stopped_at": None,
        "stop_reason": None,
    }
    state["ingest"] = ingest
    state["started"][str(body["ingest_id"])] = event.occurred_at_ms
    state["started"] = bounded(state["started"], WAITING_LIMIT)
    return [Update(CHANNEL, f"{state['stream_id']}/ingest", dict(ingest))]


def _on_ingest_stopped(state: MediaState, event: Event) -> list[Output]:
    ingest = state["ingest"]
    if ingest is None or ingest["ingest_id"] != event.body["ingest_id"]:
        return []  # an ingest that never reported video (or an older one)
    ingest.update(status="stopped", stopped_at=event.occurred_at_ms)
    ingest["stop_reason"] = event.body.get("reason") or "other"
    return [Update(CHANNEL, f"{state['stream_id']}/ingest", dict(ingest))]


def _on_ingest_health(state: MediaState, event: Event) -> list[Output]:
    """The live ingest's latest measures replace the earlier ones (fps: the start's too)."""
    ingest, body = state["ingest"], event.body
    if ingest is None or ingest["ingest_id"] != body["ingest_id"] or ingest["status"] != "live":
        return []  # an older ingest's, or one that already stopped
    ingest.update(
        bitrate_kbps=body["bitrate_kbps"],
        fps=body["fps"],
        dropped_frames=body.get("dropped_frames") or 0,
        health_at=event.occurred_at_ms,
    )
    return [Update(CHANNEL, f"{state['stream_id']}/ingest", dict(ingest))]


_HANDLERS = {
    CLIP_CREATED: _on_clip,
    CLIP_READY: _on_cut,
    CLIP_FAILED: _on_cut,
    INGEST_STARTED: _on_ingest_started,
    INGEST_STOPPED: _on_ingest_stopped,
    INGEST_HEALTH: _on_ingest_health,
    RECORDING_FINISHED: _on_recording,
    CONTENT_JUDGED: _on_judged,
}
