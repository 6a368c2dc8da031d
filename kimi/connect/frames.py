"""Connect envelopes (docs/kimi-protocol.md A.4): the encoder and an incremental decoder.

Bytes in, frames out: no I/O; orjson for the per-frame decode (the streaming hot path, see bench/).
"""
from __future__ import annotations

import json
import struct
from typing import NamedTuple, Union

import orjson

from kimi.errors import ProtocolError

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
HEADER_BYTES = 5
MAX_FRAME_BYTES = 16 * 1024 * 1024  # RS's cap; a bigger frame means we lost sync, not a long answer

_HEADER = struct.Struct(">BI")


def encode_envelope(payload: Union[dict, bytes], flags: int = 0) -> bytes:
    """One envelope: a dict becomes compact UTF-8 JSON, bytes are sent as they are."""
    if isinstance(payload, dict):
        payload = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(flags, len(payload)) + payload


class Frame(NamedTuple):
    flags: int
    payload: dict

    @property
    def is_end_stream(self) -> bool:
        return bool(self.flags & FLAG_END_STREAM)


class FrameDecoder:
    """Cuts complete frames out of a byte stream read in arbitrary chunks.

    Between feeds it keeps only the bytes of the frame not yet complete; its JSON is decoded once,
    when the last byte arrives, so chunks split inside a header or a UTF-8 character do no harm.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES):
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()  # bytes of the frame not yet complete, and nothing else

    @property
    def has_partial(self) -> bool:
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Every frame completed by `data`, in order (often none, sometimes several)."""
        buffer = self._buffer
        buffer += data
        frames = []
        start, end = 0, len(buffer)
        while end - start >= HEADER_BYTES:
            flags, length = _HEADER.unpack_from(buffer, start)
            if length > self.max_frame_bytes or flags & FLAG_COMPRESSED:
                self._check_header(flags, length)
            stop = start + HEADER_BYTES + length
            if stop > end:
                break
            if length or flags & FLAG_END_STREAM:
                frames.append(Frame(flags, _decode_payload(buffer, start + HEADER_BYTES, stop)))
            start = stop
        # One prefix delete per feed (CPython just moves the array start): no quadratic copying.
        del buffer[:start]
        return frames

    def finish(self) -> None:
        """Raise ProtocolError if the stream ended inside a frame."""
        if self._buffer:
            raise ProtocolError(f"Kimi's stream ended inside a frame ({len(self._buffer)} bytes "
                                "of it arrived).",
                                code="truncated_frame")

    def _check_header(self, flags: int, length: int) -> None:
        # Checked on the header alone so a bogus length never makes us buffer megabytes first.
        if length > self.max_frame_bytes:
            raise ProtocolError(f"Kimi sent a {length}-byte frame, over the "
                                f"{self.max_frame_bytes}-byte limit.", code="frame_too_large")
        if flags & FLAG_COMPRESSED:
            # We never send Connect-Accept-Encoding, so a compressed frame means a broken stream.
            raise ProtocolError("Kimi sent a compressed frame that was never asked for.",
                                code="compressed_frame")


def _decode_payload(buffer: bytearray, start: int, stop: int) -> dict:
    if start == stop:
        return {}  # a zero-length end-of-stream message means plain success
    data = buffer[start:stop]
    try:
        payload = orjson.loads(data)  # about 4x faster than json.loads on a typical 100-byte frame
    except orjson.JSONDecodeError:
        # json accepts a little more than orjson (NaN, Infinity, lone surrogates): what parsed
        # before still parses, and only what json refuses is a bad frame. (orjson reads integers past
        # 64 bits as floats; Kimi's numbers are offsets and small ids, which we never do arithmetic on.)
        payload = _decode_lenient(data)
    if not isinstance(payload, dict):
        raise ProtocolError(f"Kimi sent a frame whose JSON is a {type(payload).__name__}, "
                            "not an object.", code="bad_frame")
    return payload


def _decode_lenient(data: bytearray):
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError too
        raise ProtocolError(f"Kimi sent a frame that is not UTF-8 JSON ({err}).",
                            code="bad_frame") from None
