"""Every aiortc internal livefold relies on, pinned to aiortc==1.16.0 (pyproject.toml).

Forwarding a publisher's encoded frames to viewers without decoding them needs hooks aiortc has
no public API for (see docs/media.md). They are all here, and tests/test_media_internals.py
fails naming the attribute when an upgrade moves one:

- the receiver's decoder queue (`_RTCRtpReceiver__decoder_queue`): `_handle_rtp_packet` puts
  `(codec, JitterFrame)` there on the event loop's thread, the decoder thread blocks in `get()`
  and stops on `None`. Replacing it per receiver hands us each reassembled frame (`data` is the
  depayloaded frame, `timestamp` already unwrapped) and leaves the decoder thread idle;
- `RTCRtpReceiver._send_rtcp_pli(ssrc)`: called to ask the publisher for a keyframe, and
  wrapped to learn when aiortc itself asks (it lost packets: frames until the next keyframe
  would decode to garbage);
- `RTCRtpSender._send_keyframe()`: what a viewer's PLI/FIR calls; on the packet path aiortc
  ignores it, so it is replaced per sender to forward the request upstream;
- `RTCRtpSender._next_encoded_frame`: what the sender's loop (`_run_rtp`) awaits for each
  frame's RTP payloads. aiortc's packs the track's `av.Packet` with the sender's own
  `Encoder.pack`, so every viewer packetized every frame again; `send_packed` replaces it per
  sender with payloads packed once per frame for all viewers (`packer`: aiortc's encoder for a
  codec, whose `pack` only packetizes);
- `aiortc.clock.current_ntp_time`: the sender stamps every packet with it (abs-send-time), from
  a `datetime` (10% of a fan-out process); `fast_clock` replaces it, in the fan-out processes,
  with the same value read from `time.time()`;
- `RTCRtpTransceiver._codecs`: the codecs negotiated with the publisher; narrowed on a
  viewer's (or guest's) transceiver to the one codec forwarded (`answer_only`): an answerer's
  transceivers are made by `setRemoteDescription`, which fixes `_codecs` before
  `setCodecPreferences` could apply, and `createAnswer` lists (and the sender uses) `_codecs`;
- `aiortc.sdp.SessionDescription.parse`: to check an offer before aiortc acts on it, and
  `aiortc.sdp.candidate_from_sdp` to read a trickled candidate (the same parser aiortc uses);
- `RTCRtpTransceiver._bundled`: aiortc's default (balanced) bundle policy gives the second
  transceiver of a kind its kind's first transport and flags it bundled before the offer's
  BUNDLE group is applied, which then moves only unflagged ones onto the group's transport:
  a viewer's second audio section would never send. `rebundle` moves it;
- `RTCIceGatherer._connection`: the aioice connection whose sockets receive the ingest (its
  receive buffer is raised, media/aioice_private.py).
`RELIES_ON` lists these names and `PINNED_SOURCE` the sha256 of the aiortc code whose behaviour
they depend on; tests/test_library_internals.py checks both against the installed aiortc.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import (
    RTCIceCandidate,
    RTCIceGatherer,
    RTCPeerConnection,
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    clock,
)
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.rtcrtpsender import RTCEncodedFrame
from aiortc.sdp import SessionDescription, candidate_from_sdp

AIORTC_VERSION = "1.16.0"
DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
SEND_PLI = "_send_rtcp_pli"
SEND_KEYFRAME = "_send_keyframe"
NEXT_ENCODED_FRAME = "_next_encoded_frame"
CODECS = "_codecs"
ICE_CONNECTION = "_connection"
BUNDLED = "_bundled"

RELIES_ON: dict[type, tuple[str, ...]] = {
    RTCRtpReceiver: ("__decoder_queue", SEND_PLI, "getSynchronizationSources"),
    RTCRtpSender: (SEND_KEYFRAME, NEXT_ENCODED_FRAME),
    RTCRtpTransceiver: (CODECS, BUNDLED),
    SessionDescription: ("parse", "media"),
    RTCIceGatherer: (ICE_CONNECTION,),
}
PINNED_SOURCE: dict[str, str] = {
    "aiortc.rtcpeerconnection.RTCPeerConnection._RTCPeerConnection__createTransceiver": (
        "00201d6e03cc00f713d914365a46748e1e6c0b8f8d258d44480459356c898b91"
    ),
    "aiortc.rtcrtpreceiver.decoder_worker": (
        "d500d4e567d6846c0bd1b501685ec5dd65202563280a01b25e2c014c2273c3eb"
    ),
    "aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet": (
        "4e54983d021a6336d80c29490f82f9a6dd531c0d3179b2daed818120c5ece238"
    ),
    "aiortc.rtcrtpreceiver.RTCRtpReceiver._send_rtcp_pli": (
        "ae74c43d50f6eb7bd6d5d6fbafe46e507f937e651db022d04206926ed21c7184"
    ),
    "aiortc.rtcrtpsender.RTCRtpSender._run_rtp": (
        "ff597a1d554cb373e73b21775c5bf564e7dba1eab6058eeabd902e09794872a3"
    ),
    "aiortc.clock.current_ntp_time": (
        "b7dedc576383cdcaee3de77f3d5edc2637ad51443f0da4fad428b87ecf15badc"
    ),
    "aiortc.clock.datetime_to_ntp": (
        "a5a177847d20a4b31320b11c7525e1e4cf9c07134456d93b1ec1022e503d3341"
    ),
    "aiortc.rtcrtpsender.RTCRtpSender._next_encoded_frame": (
        "89dd9fa4fb33741cc60857f1cebae31c9a88b72da9a42f91abc6090f40cb8253"
    ),
    "aiortc.rtcrtpsender.RTCRtpSender._handle_rtcp_packet": (
        "a4ee4c7355f8de7a67ae75215d25d2d34931931a33b8ad2ce89ba2d9a24fc704"
    ),
    "aiortc.rtcrtpsender.RTCRtpSender._send_keyframe": (
        "26c49629470d1928f42ffa4ea6953d6040e97f29b91379c13087416023eda0c0"
    ),
    "aiortc.codecs.vpx.Vp8Encoder.pack": (
        "7f5276527a794bfaf80307b1c94257112f44634683c1f6cb6aba8ada7cfe5dd2"
    ),
    "aiortc.codecs.h264.H264Encoder.pack": (
        "0203f2c577882e24914705b9c0133640191dea7c5f191dff7a940307a0d1065c"
    ),
    "aiortc.codecs.opus.OpusEncoder.pack": (
        "124c7eab72fc93cbfb9cbd92ceee0b5bd167c48183f4df28c979db1be2d78dda"
    ),
}

FrameSink = Callable[[RTCRtpCodecParameters, bytes, int], None]  # codec, frame, 90k/48k time


class _FrameTap:
    """Stands in for the receiver's decoder queue: frames go to `sink`, and only the stop
    marker (`None`) reaches the idle decoder thread, which then ends the receiver's track."""

    def __init__(self, sink: FrameSink):
        self._sink = sink
        self._stop: queue.Queue[None] = queue.Queue()

    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            self._stop.put(None)
            return
        codec, frame = item
        self._sink(codec, bytes(frame.data), int(frame.timestamp))

    def get(self) -> None:
        return self._stop.get()


def tap_encoded_frames(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Send every frame `receiver` reassembles to `sink` instead of its decoder. Call it before
    the connection starts the receiver (in the peer connection's "track" handler)."""
    if not hasattr(receiver, DECODER_QUEUE):
        raise RuntimeError(f"aiortc changed: RTCRtpReceiver has no {DECODER_QUEUE}")
    setattr(receiver, DECODER_QUEUE, _FrameTap(sink))


def picture_loss_hook(
    receiver: RTCRtpReceiver, on_loss: Callable[[], None]
) -> Callable[[int], Awaitable[None]]:
    """Call `on_loss` whenever aiortc itself asks the publisher for a keyframe; returns the
    original request, for asking without counting it as a loss."""
    original: Callable[[int], Awaitable[None]] = getattr(receiver, SEND_PLI)

    async def send_pli(media_ssrc: int) -> None:
        on_loss()
        await original(media_ssrc)

    setattr(receiver, SEND_PLI, send_pli)
    return original


def on_keyframe_request(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """A viewer's PLI or FIR on `sender` calls `request` (aiortc would only flag its encoder)."""
    if not callable(getattr(sender, SEND_KEYFRAME, None)):
        raise RuntimeError(f"aiortc changed: RTCRtpSender has no {SEND_KEYFRAME}")
    setattr(sender, SEND_KEYFRAME, request)


def packer(mime_type: str) -> Encoder:
    """aiortc's packer for a codec (`Encoder.pack`: RTP payloads of an encoded frame)."""
    return get_encoder(RTCRtpCodecParameters(mimeType=mime_type, clockRate=0))


def send_packed(
    sender: RTCRtpSender, next_packed: Callable[[], Awaitable[tuple[list[bytes], int]]]
) -> None:
    """`sender` sends the (payloads, RTP timestamp) `next_packed` returns, as packed, instead of
    packing its track's frames itself; `next_packed` ends the sender by raising
    `MediaStreamError`, as a track's `recv` does."""
    if not callable(getattr(sender, NEXT_ENCODED_FRAME, None)):
        raise RuntimeError(f"aiortc changed: RTCRtpSender has no {NEXT_ENCODED_FRAME}")

    async def next_encoded_frame(codec: RTCRtpCodecParameters) -> RTCEncodedFrame:
        payloads, timestamp = await next_packed()
        return RTCEncodedFrame(payloads, timestamp, None)  # type: ignore[arg-type]

    setattr(sender, NEXT_ENCODED_FRAME, next_encoded_frame)


NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP's epoch) to 1970


def ntp_time() -> int:
    """`aiortc.clock.current_ntp_time`'s value (64-bit NTP, microsecond steps) without datetime."""
    microseconds = time.time_ns() // 1000
    seconds, fraction = divmod(microseconds, 1_000_000)
    return ((seconds + NTP_EPOCH_OFFSET) << 32) | ((fraction << 32) // 1_000_000)


def fast_clock() -> None:
    """Every aiortc sender of this process stamps its packets with `ntp_time`."""
    clock.current_ntp_time = ntp_time


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    codecs: list[RTCRtpCodecParameters] = getattr(transceiver, CODECS)
    return list(codecs)


def offered_media(sdp: str) -> list[tuple[str, str, list[str]]]:
    """Each media section of an SDP offer: (kind, direction, codec names); ValueError if it
    does not parse."""
    try:
        parsed = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError, AttributeError) as error:
        raise ValueError(str(error) or type(error).__name__) from None
    return [
        (media.kind, str(media.direction), [codec.name for codec in media.rtp.codecs])
        for media in parsed.media
    ]


def ice_connection(gatherer: RTCIceGatherer) -> object:
    """The aioice connection behind an ICE gatherer (its sockets exist once it gathered)."""
    connection = getattr(gatherer, ICE_CONNECTION, None)
    if connection is None:
        raise RuntimeError(f"aiortc changed: RTCIceGatherer has no {ICE_CONNECTION}")
    return connection


def parsed_candidate(line: str, mid: str | None, index: int | None) -> RTCIceCandidate:
    """An `a=candidate:` attribute's value as aiortc's candidate; ValueError if malformed."""
    try:
        candidate = candidate_from_sdp(line)
    except (AssertionError, ValueError, IndexError) as error:
        raise ValueError(f"malformed candidate {line!r}") from error
    candidate.sdpMid, candidate.sdpMLineIndex = mid, index
    return candidate


def answer_only(transceiver: RTCRtpTransceiver, codec: RTCRtpCodecParameters | Any) -> bool:
    """Narrow what `transceiver` answers (and sends or expects) to `codec` and its RTX: same
    MIME type, and for H.264 the same profile-level-id and packetization-mode. False (nothing
    changed) when the offer did not include it."""
    negotiated: list[RTCRtpCodecParameters] = getattr(transceiver, CODECS)

    def same(found: RTCRtpCodecParameters) -> bool:
        if found.mimeType.lower() != codec.mimeType.lower():
            return False
        if found.mimeType.lower() != "video/h264":
            return True
        return all(
            str(found.parameters.get(name, "")).lower()
            == str(codec.parameters.get(name, "")).lower()
            for name in ("profile-level-id", "packetization-mode")
        )

    chosen = next((found for found in negotiated if same(found)), None)
    if chosen is None:
        return False
    rtx = [
        found
        for found in negotiated
        if found.mimeType.lower().endswith("/rtx")
        and found.parameters.get("apt") == chosen.payloadType
    ]
    setattr(transceiver, CODECS, [chosen, *rtx])
    return True


def rebundle(peer: RTCPeerConnection) -> None:
    """After an offer that bundles every section (as WHIP and WHEP clients must): put each
    transceiver aiortc flagged bundled on the first one's transport, where the media flows."""
    transceivers = peer.getTransceivers()
    if not transceivers:
        return
    primary = transceivers[0].receiver.transport
    for transceiver in transceivers[1:]:
        if getattr(transceiver, BUNDLED) and transceiver.receiver.transport is not primary:
            transceiver.receiver.setTransport(primary)
            transceiver.sender.setTransport(primary)
