"""HTTP/1.1 chunked transfer coding, removed incrementally: raw bytes off the connection in, body out.

stream.py reads the socket itself so that one read hands over every frame that has arrived (http.client
would return one chunk per call). No I/O here, standard library only.
"""
from __future__ import annotations

from kimi.errors import ProtocolError

MAX_LINE_BYTES = 4096  # a chunk-size line (with extensions) longer than this means we lost sync


class ChunkedDecoder:
    """Strips chunk-size lines and CRLFs from bytes read in arbitrary pieces.

    Between feeds it keeps only a chunk-size line not yet complete and how much of the current
    chunk is still to come. `is_done` turns true at the last (zero-size) chunk; `is_complete` once the
    trailer section after it (usually empty) has ended too, with its blank line: only then is nothing
    of this response left on the connection, and it may carry the next request.
    """

    def __init__(self):
        self.is_done = False
        self.is_complete = False
        self._line = b""  # the start of a chunk-size line cut by the end of a read
        self._left = 0  # body bytes of the current chunk not yet seen
        self._after_chunk = False  # the CRLF closing a chunk's data is due

    def feed(self, data: bytes) -> bytes:
        """The body bytes `data` carries (often all of it but a few bytes of framing)."""
        if self.is_complete:
            return b""
        if self._line:
            data, self._line = self._line + data, b""
        parts = []
        pos, end = 0, len(data)
        while pos < end:
            if self._left:
                stop = min(end, pos + self._left)
                parts.append(data[pos:stop])
                self._left -= stop - pos
                pos = stop
                self._after_chunk = not self._left
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._keep_line(data[pos:])
                break
            line, pos = data[pos:newline].strip(), newline + 1
            if self.is_done:  # a trailer line (never body); the blank one ends the response
                if not line:
                    self.is_complete = True
                    break
                continue
            if self._after_chunk:
                self._after_chunk = False
                if line:
                    raise ProtocolError("Kimi's chunked body lost its framing (no CRLF after a chunk).",
                                        code="bad_chunk")
                continue
            self._left = _chunk_size(line)
            self.is_done = not self._left
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _keep_line(self, start: bytes) -> None:
        if len(start) > MAX_LINE_BYTES:
            raise ProtocolError("Kimi's chunked body has an overlong chunk-size line.", code="bad_chunk")
        self._line = start


def _chunk_size(line: bytes) -> int:
    try:
        size = int(line.split(b";", 1)[0], 16)
    except ValueError:
        size = -1
    if size < 0:
        raise ProtocolError(f"Kimi's chunked body has a bad chunk-size line {line[:40]!r}.",
                            code="bad_chunk")
    return size
