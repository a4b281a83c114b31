"""WebRTC sessions: a publisher's (WHIP) feeding a `Stage`, and a viewer's (WHEP) fed by one.

Every peer connection has no STUN or TURN server and offers only the configured host
addresses (media/aioice_private.py). An offer is checked before aiortc sees it, so a bad one
gets a clear answer: no video, or only codecs aiortc cannot forward (it forwards VP8 and H.264
video, Opus, PCMU and PCMA audio).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable

from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidAccessError, OperationError

from media import aioice_private, aiortc_private
from media.relay import ForwardedTrack, Stage, Viewer
from media.whip_feed import WhipFeed

Codec = RTCRtpCodecParameters | RTCRtpCodecCapability
VIDEO_CODECS = ("VP8", "H264")  # VP8 first: cheaper to forward (no Annex B re-splitting)
AUDIO_CODECS = ("opus", "PCMU", "PCMA")
INGEST_RECEIVE_BUFFER = 4 * 1024 * 1024
NOT_CODECS = frozenset({"rtx", "red", "ulpfec", "flexfec-03", "telephone-event", "cn"})


class OfferError(ValueError):
    """The SDP offer cannot be answered; `status` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def check_offer(sdp: str, *, publishing: bool) -> None:
    """Refuse an offer aiortc would choke on or could not forward, naming what is wrong."""
    try:
        sections = aiortc_private.offered_media(sdp)
    except ValueError as error:
        raise OfferError(400, f"malformed SDP: {error}") from None
    if not sdp.startswith("v=0") or not sections:
        raise OfferError(400, "malformed SDP: no 'v=0' line or no media section")
    if "video" not in {kind for kind, _, _ in sections}:
        raise OfferError(400, "the offer has no video media section")
    for kind, direction, codecs in sections:
        if kind not in ("audio", "video"):
            raise OfferError(415, f"unsupported media section {kind!r}")
        wanted = VIDEO_CODECS if kind == "video" else AUDIO_CODECS
        offered = [name for name in codecs if name.lower() not in NOT_CODECS]
        if not {name.lower() for name in offered} & {name.lower() for name in wanted}:
            raise OfferError(
                415,
                f"unsupported {kind} codecs {', '.join(offered) or '(none)'}; "
                f"supported: {', '.join(wanted)}",
            )
        if publishing and direction not in ("sendonly", "sendrecv"):
            raise OfferError(400, f"a WHIP offer must send its {kind} (sendonly)")
        if not publishing and direction not in ("recvonly", "sendrecv"):
            raise OfferError(400, f"a WHEP offer must receive its {kind} (recvonly)")


async def take_offer(peer: RTCPeerConnection, offer: str) -> None:
    """aiortc's own refusal of an offer that passed `check_offer` is still the client's fault."""
    try:
        await peer.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    except (ValueError, KeyError, IndexError, InvalidAccessError, OperationError) as error:
        raise OfferError(
            400, f"cannot answer this offer: {error or type(error).__name__}"
        ) from None


def new_peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def answer(peer: RTCPeerConnection) -> str:
    """Answer the remote offer; aiortc gathers its (host) candidates into the answer."""
    await peer.setLocalDescription(await peer.createAnswer())
    return peer.localDescription.sdp


def on_closed(peer: RTCPeerConnection, closed: Callable[[str], Awaitable[None]]) -> None:
    @peer.on("connectionstatechange")
    async def changed() -> None:
        if peer.connectionState in ("failed", "closed"):
            await closed(peer.connectionState)


class Publisher:
    """The WHIP side: taps the receivers so frames reach the stage encoded."""

    def __init__(self, stream_id: str, streamer: str):
        self.session_id = uuid.uuid4().hex
        self.stream_id = stream_id
        self.streamer = streamer
        self.peer = new_peer()
        self.video_codec: RTCRtpCodecParameters | None = None
        self.audio_codec: RTCRtpCodecParameters | None = None
        self.stage = Stage(stream_id, self._request_keyframe)
        self.first_frames: list[tuple[bytes, int]] = []  # until the ingest is reported
        self._send_pli: Callable[[int], Awaitable[None]] | None = None
        self._video_receiver: object | None = None
        self._requests: set[asyncio.Future[None]] = set()
        self.ladder: WhipFeed | None = None  # the HLS ladder's input, once live

    async def accept(self, offer: str) -> str:
        await take_offer(self.peer, offer)
        for transceiver in self.peer.getTransceivers():
            transceiver.direction = "recvonly"
            codecs = aiortc_private.negotiated_codecs(transceiver)
            if transceiver.kind == "video":
                self.video_codec = codecs[0] if codecs else None
                receiver = transceiver.receiver
                aiortc_private.tap_encoded_frames(receiver, self._on_video)
                self._send_pli = aiortc_private.picture_loss_hook(
                    receiver, self.stage.on_ingest_loss
                )
                self._video_receiver = receiver
            elif transceiver.kind == "audio":
                self.audio_codec = codecs[0] if codecs else None
                aiortc_private.tap_encoded_frames(transceiver.receiver, self._on_audio)
        if self.video_codec is None:
            raise OfferError(415, "no video codec in common (supported: VP8, H264)")
        sdp = await answer(self.peer)
        # Bursts of a keyframe's packets overflowed the default buffer while the loop was busy
        # fanning out (the notes' RcvbufErrors): ingest loss corrupts every viewer's picture.
        for transceiver in self.peer.getTransceivers():
            gatherer = transceiver.receiver.transport.transport.iceGatherer
            connection = aiortc_private.ice_connection(gatherer)
            aioice_private.raise_receive_buffer(connection, INGEST_RECEIVE_BUFFER)
        return sdp

    def _on_video(self, codec: RTCRtpCodecParameters, frame: bytes, timestamp: int) -> None:
        if len(self.first_frames) < 60:
            self.first_frames.append((frame, timestamp))
        self.stage.on_video(codec.name, frame, timestamp)
        if self.ladder is not None:
            self.ladder.on_video(frame, timestamp)

    def _on_audio(self, codec: RTCRtpCodecParameters, frame: bytes, timestamp: int) -> None:
        self.stage.on_audio(frame, timestamp)
        if self.ladder is not None:
            self.ladder.on_audio(frame, timestamp)

    def _request_keyframe(self) -> None:
        receiver = self._video_receiver
        if self._send_pli is None or receiver is None:
            return
        sources = receiver.getSynchronizationSources()  # type: ignore[attr-defined]
        if sources:
            request = asyncio.ensure_future(self._send_pli(sources[0].source))
            self._requests.add(request)
            request.add_done_callback(self._requests.discard)

    async def close(self) -> None:
        self.stage.close()
        if self.ladder is not None:
            self.ladder.close()
        await self.peer.close()


class Watcher:
    """The WHEP side (in a fan-out process): one viewer of a stage, sent the publisher's codecs
    (`RTCRtpCodecCapability`-like: mimeType, clockRate, channels, parameters)."""

    def __init__(self, session_id: str, stage: Stage, video: Codec, audio: Codec | None):
        self.session_id = session_id
        self.stage = stage
        self.video_codec = video
        self.audio_codec = audio
        self.peer = new_peer()
        self.viewer: Viewer | None = None

    async def accept(self, offer: str) -> str:
        await take_offer(self.peer, offer)
        video = ForwardedTrack("video")
        audio: ForwardedTrack | None = None
        for transceiver in self.peer.getTransceivers():
            codec = self.video_codec if transceiver.kind == "video" else self.audio_codec
            if codec is None:
                transceiver.direction = "inactive"
                continue
            track = video if transceiver.kind == "video" else ForwardedTrack("audio")
            if transceiver.kind == "audio":
                if audio is not None:
                    transceiver.direction = "inactive"
                    continue
                audio = track
            prefer(transceiver, codec)
            self.peer.addTrack(track)
            if transceiver.kind == "video":
                aiortc_private.on_keyframe_request(transceiver.sender, self.stage.request_keyframe)
        sdp = await answer(self.peer)
        if "m=video" not in sdp or (" VP8/" not in sdp and " H264/" not in sdp):
            raise OfferError(415, f"the offer cannot receive {self.video_codec.mimeType}")
        self.viewer = Viewer(self.session_id, video, audio)
        self.stage.add(self.viewer)
        return sdp

    async def close(self) -> None:
        self.stage.remove(self.session_id)
        await self.peer.close()


def prefer(transceiver: RTCRtpTransceiver, codec: Codec) -> None:
    """Answer with exactly the publisher's codec (and its fmtp: an H.264 profile must match)."""
    preferred = [
        RTCRtpCodecCapability(
            mimeType=codec.mimeType,
            clockRate=codec.clockRate,
            channels=codec.channels,
            parameters=dict(codec.parameters),
        )
    ]
    if transceiver.kind == "video":  # retransmissions for the viewer's NACKs
        preferred.append(RTCRtpCodecCapability(mimeType="video/rtx", clockRate=90_000))
    transceiver.setCodecPreferences(preferred)


async def add_candidates(peer: RTCPeerConnection, fragment: str) -> None:
    """Trickle ICE (RFC 8840 in a WHIP/WHEP PATCH): the fragment's candidates, each under its
    `a=mid`, and `a=end-of-candidates`. New ICE credentials would be an ICE restart, which
    aiortc cannot do: 501."""
    remote = peer.remoteDescription.sdp if peer.remoteDescription else ""
    known = set(re.findall(r"^a=ice-ufrag:(\S+)", remote, re.MULTILINE))
    mid: str | None = None
    index: int | None = None
    for raw in fragment.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            index = 0 if index is None else index + 1
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        elif line.startswith("a=ice-ufrag:") and line[len("a=ice-ufrag:") :] not in known:
            raise OfferError(501, "an ICE restart (new ice-ufrag) is not supported; start again")
        elif line.startswith("a=candidate:"):
            if mid is None and index is None:
                raise OfferError(400, "a candidate before any a=mid or m= line")
            try:
                candidate = aiortc_private.parsed_candidate(line[len("a=candidate:") :], mid, index)
            except ValueError as error:
                raise OfferError(400, str(error)) from None
            await add_candidate(peer, candidate)
        elif line == "a=end-of-candidates":
            await add_candidate(peer, None)


async def add_candidate(peer: RTCPeerConnection, candidate: RTCIceCandidate | None) -> None:
    try:
        await peer.addIceCandidate(candidate)
    except ValueError as refused:  # after end-of-candidates
        raise OfferError(400, f"cannot add the candidate: {refused}") from None
