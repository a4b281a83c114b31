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
STAGE_SLOTS = 4  # the host and up to 3 guests (media/costream.py)
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
    if re.search(r"^a=group:BUNDLE ", offer, re.MULTILINE):
        aiortc_private.rebundle(peer)


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

    async def accept(self, offer: str, video_codec: Codec | None = None) -> str:
        """Answer a publishing offer; `video_codec`: the one codec to take (a guest's must be
        the host's, since viewers negotiate one codec for every slot)."""
        await take_offer(self.peer, offer)
        for transceiver in self.peer.getTransceivers():
            transceiver.direction = "recvonly"
            if transceiver.kind == "video" and video_codec is not None:
                prefer(transceiver, video_codec)
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
        # Every source the receiver heard: a browser's retransmissions (RTX) come from an SSRC
        # of their own, and a PLI naming that one is ignored (no keyframe ever came).
        for source in receiver.getSynchronizationSources():  # type: ignore[attr-defined]
            request = asyncio.ensure_future(self._send_pli(source.source))
            self._requests.add(request)
            request.add_done_callback(self._requests.discard)

    async def close(self) -> None:
        self.stage.close()
        if self.ladder is not None:
            self.ladder.close()
        await self.peer.close()


class Watcher:
    """The WHEP side (in a fan-out process): one viewer of a stream's stage, sent the host's
    codecs (`RTCRtpCodecCapability`-like: mimeType, clockRate, channels, parameters). The
    offer's video sections, in order, receive slot 0 (the host) and slots 1-3 (guests); its
    audio sections likewise. `stage_of(slot)` is the stage feeding a slot."""

    def __init__(
        self,
        session_id: str,
        stage_of: Callable[[int], Stage],
        video: Codec,
        audio: Codec | None,
    ):
        self.session_id = session_id
        self.stage_of = stage_of
        self.video_codec = video
        self.audio_codec = audio
        self.peer = new_peer()
        self.stages: list[Stage] = []

    async def accept(self, offer: str) -> str:
        await take_offer(self.peer, offer)
        videos: list[ForwardedTrack] = []
        audios: list[ForwardedTrack] = []
        for transceiver in self.peer.getTransceivers():
            kind = transceiver.kind
            codec = self.video_codec if kind == "video" else self.audio_codec
            tracks = videos if kind == "video" else audios
            if codec is None or len(tracks) >= STAGE_SLOTS:
                transceiver.direction = "inactive"
                continue
            prefer(transceiver, codec)
            track = ForwardedTrack(kind)
            aiortc_private.send_packed(self.peer.addTrack(track), track.next_packed)
            if kind == "video":
                request = self.stage_of(len(tracks)).request_keyframe
                aiortc_private.on_keyframe_request(transceiver.sender, request)
            tracks.append(track)
        sdp = await answer(self.peer)
        if not videos:
            raise OfferError(415, f"the offer cannot receive {self.video_codec.mimeType}")
        for slot, video in enumerate(videos):
            stage = self.stage_of(slot)
            stage.add(Viewer(self.session_id, video, audios[slot] if slot < len(audios) else None))
            self.stages.append(stage)
        return sdp

    async def close(self) -> None:
        for stage in self.stages:
            stage.remove(self.session_id)
        await self.peer.close()


def prefer(transceiver: RTCRtpTransceiver, codec: Codec) -> None:
    """Answer with exactly the publisher's codec (an H.264 profile must match), and RTX for
    the viewer's NACKs; 415 if the offer cannot take it."""
    if not aiortc_private.answer_only(transceiver, codec):
        raise OfferError(415, f"the offer cannot take {codec.mimeType} as published")


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
