"""AMF0 (Adobe's Action Message Format, version 0), the encoding of RTMP's commands and
metadata: numbers, booleans, strings, objects, ECMA arrays, null and undefined, which is all
OBS and ffmpeg send when publishing."""

from __future__ import annotations

import struct
from typing import Any

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED, ECMA_ARRAY, OBJECT_END = 0, 1, 2, 3, 5, 6, 8, 9
STRICT_ARRAY, DATE, LONG_STRING = 10, 11, 12


class AmfError(ValueError):
    pass


def decode_all(data: bytes) -> list[Any]:
    values, at = [], 0
    while at < len(data):
        value, at = _decode(data, at)
        values.append(value)
    return values


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    try:
        marker = data[at]
        at += 1
        if marker == NUMBER:
            return struct.unpack_from(">d", data, at)[0], at + 8
        if marker == BOOLEAN:
            return data[at] != 0, at + 1
        if marker == STRING:
            return _string(data, at, 2)
        if marker == LONG_STRING:
            return _string(data, at, 4)
        if marker in (NULL, UNDEFINED):
            return None, at
        if marker == OBJECT:
            return _properties(data, at)
        if marker == ECMA_ARRAY:
            return _properties(data, at + 4)
        if marker == STRICT_ARRAY:
            (count,) = struct.unpack_from(">I", data, at)
            items, at = [], at + 4
            for _ in range(count):
                item, at = _decode(data, at)
                items.append(item)
            return items, at
        if marker == DATE:
            return struct.unpack_from(">d", data, at)[0], at + 10
    except (IndexError, struct.error, UnicodeDecodeError) as error:
        raise AmfError(f"truncated or malformed AMF0: {error}") from None
    raise AmfError(f"unsupported AMF0 type marker {marker}")


def _string(data: bytes, at: int, width: int) -> tuple[str, int]:
    size = int.from_bytes(data[at : at + width], "big")
    end = at + width + size
    if end > len(data):
        raise AmfError("truncated AMF0 string")
    return data[at + width : end].decode("utf-8"), end


def _properties(data: bytes, at: int) -> tuple[dict[str, Any], int]:
    found: dict[str, Any] = {}
    while True:
        name, at = _string(data, at, 2)
        if not name and data[at] == OBJECT_END:
            return found, at + 1
        found[name], at = _decode(data, at)


def encode(*values: Any) -> bytes:
    return b"".join(_encode(value) for value in values)


def _encode(value: Any) -> bytes:
    if value is None:
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, int(value)])
    if isinstance(value, int | float):
        return bytes([NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        encoded = value.encode("utf-8")
        return bytes([STRING]) + struct.pack(">H", len(encoded)) + encoded
    if isinstance(value, dict):
        body = b"".join(
            struct.pack(">H", len(name.encode())) + name.encode() + _encode(item)
            for name, item in value.items()
        )
        return bytes([OBJECT]) + body + b"\x00\x00" + bytes([OBJECT_END])
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")
