"""Incremental decoder for Kimi's REST event streams (the legacy completion, docs/kimi-protocol.md B.4, and
a file's parse progress, B.6): bytes in, the `data` of each complete SSE event out. UTF-8 is decoded
incrementally, so a character split across network chunks is never mangled (KFA's U+FFFD workarounds
are not needed).
"""
from __future__ import annotations

import codecs

from kimi.errors import ProtocolError


class SSEDecoder:
    """Keeps an undecoded byte tail, an unfinished line and the event's data lines between feeds."""

    def __init__(self, max_event_chars: int = 16 * 1024 * 1024):
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._line = ""
        self._data: list[str] = []
        self._max_event_chars = max_event_chars
        self._size = 0

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event this chunk completes (often none)."""
        return self._lines(self._utf8.decode(chunk))

    def finish(self) -> list[str]:
        """Flush at end of stream: a last event without its blank line still counts (KFA reads
        each `data:` line as it comes, so Kimi's final separator is not relied upon)."""
        events = self._lines(self._utf8.decode(b"", final=True) + "\n")
        if self._data:
            events.append("\n".join(self._data))
            self._data = []
        return events

    def _lines(self, text: str) -> list[str]:
        if "\n" not in text:
            self._line += text
            self._check_size(len(text))
            return []
        events: list[str] = []
        lines = (self._line + text).split("\n")
        self._line = lines.pop()
        self._size = len(self._line)
        for line in lines:
            if line.endswith("\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
            # `event:`, `id:`, `retry:` and `:` comments carry nothing here: the kind is in the JSON.
        return events

    def _check_size(self, added: int) -> None:
        # A server that never sends a newline must not make us buffer without end.
        self._size += added
        if self._size > self._max_event_chars:
            raise ProtocolError(f"Kimi sent an SSE line over {self._max_event_chars} characters.",
                                code="line_too_large")
