"""The 2026 citation marker `<REF>cite✦tools://<toolCallId>#<N>:~:text=<quote></REF>` (docs/kimi-protocol.md
D.4) rewritten, as answer text streams, into the `[^id^]` form every format already numbers sources by.
Pure: used by kimi/connect/parse.py.
"""
from __future__ import annotations

import re

OPEN, CLOSE = "<REF>", "</REF>"
MAX_HELD = 4096  # an unclosed marker longer than this is not one: its text goes out as written
_TARGET = re.compile(r"tools://([^#\s]+)#(\d+)")


class RefMarkers:
    """Rewrites markers in a stream of answer deltas; a marker split across deltas is held back until it
    closes, so the caller never sees half of one."""

    def __init__(self):
        self.held = ""  # the start of a marker (or of "<REF>") still waiting for its end
        self.tool_names: dict[str, str] = {}  # toolCallId -> tool name, from the block.tool frames

    def feed(self, text: str) -> str:
        """The text of this delta that can go out now, markers rewritten."""
        text, self.held = self.held + text, ""
        out = []
        start = text.find(OPEN)
        while start >= 0:
            end = text.find(CLOSE, start)
            if end < 0:
                break
            out += (text[:start], self._rewrite(text[start + len(OPEN):end]))
            text = text[end + len(CLOSE):]
            start = text.find(OPEN)
        keep = start if start >= 0 else _partial_open(text)
        if len(text) - keep <= MAX_HELD:
            text, self.held = text[:keep], text[keep:]
        out.append(text)
        return "".join(out)

    def flush(self) -> str:
        """What is still held (an unclosed marker) when the answer ends: sent as written."""
        held, self.held = self.held, ""
        return held

    def _rewrite(self, inner: str) -> str:
        target = _TARGET.search(inner)
        if target is None:
            return OPEN + inner + CLOSE
        call_id, index = target.group(1), int(target.group(2))
        name = self.tool_names.get(call_id) or call_id.split(":")[0]
        if name == "web_search":
            # N is 0-based and names the search result whose id is N + 1 (id "0" is never shown).
            return f"[^{index + 1}^]"
        return OPEN + inner + CLOSE  # fetch_urls and others index contents that carry no source id


def _partial_open(text: str) -> int:
    """Where a tail that could begin "<REF>" starts (len(text) when there is none)."""
    for size in range(len(OPEN) - 1, 0, -1):
        if text.endswith(OPEN[:size]):
            return len(text) - size
    return len(text)
