"""What the relay needs to know of an encoded video frame without decoding it: is it a keyframe,
and (for VP8, from the keyframe header) the picture size. RFC 6386 section 9.1 (VP8 frame tag),
ITU-T H.264 7.4.1.2 (Annex B byte stream, NAL unit types)."""

from __future__ import annotations

import av

VP8_START_CODE = b"\x9d\x01\x2a"
H264_IDR = 5
H264_SPS = 7


def is_keyframe(codec: str, frame: bytes) -> bool:
    if not frame:
        return False
    if codec == "VP8":
        return frame[0] & 0x01 == 0  # the frame tag's inverse key_frame bit
    if codec == "H264":
        return any(nal_type in (H264_IDR, H264_SPS) for nal_type in h264_nal_types(frame))
    return False


def h264_nal_types(frame: bytes) -> list[int]:
    """The NAL unit types in an Annex B frame (what aiortc's H.264 depayloader emits)."""
    types = []
    start = frame.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(frame):
        types.append(frame[start + 3] & 0x1F)
        start = frame.find(b"\x00\x00\x01", start + 3)
    return types


def picture_size(codec: str, keyframe: bytes) -> tuple[int, int] | None:
    """(width, height) of a keyframe: VP8 from its header, H.264 by decoding this one frame
    (once per ingest, to report the size). None when it cannot be told."""
    if codec == "VP8":
        if len(keyframe) < 10 or keyframe[3:6] != VP8_START_CODE:
            return None
        width = int.from_bytes(keyframe[6:8], "little") & 0x3FFF
        height = int.from_bytes(keyframe[8:10], "little") & 0x3FFF
        return (width, height) if width and height else None
    if codec == "H264":
        try:
            decoded = av.CodecContext.create("h264", "r").decode(av.Packet(keyframe))
        except av.FFmpegError:
            return None
        return (decoded[0].width, decoded[0].height) if decoded else None
    return None
