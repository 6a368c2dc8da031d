"""Kimi's web search as Anthropic shows its own: a `server_tool_use` block (name `web_search`, the
query), a `web_search_tool_result` block with the results, and `web_search_result_location`
citations on the text where Kimi's `[^N^]` markers cite a source. Pure: kimi.events only.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from blueprints.formats import citations
from kimi.events import Source, WebSearch

_MARKER = re.compile(r"\[\^(\d+)\^\]")
_LONGEST_PARTIAL_MARKER = 8  # "[^1234^" : what may wait for the rest of a marker in the next delta
CITED_TEXT_CHARS = 150  # Anthropic quotes at most this much of a source as `cited_text`


def tool_use_block(search: WebSearch) -> dict[str, Any]:
    """The server_tool_use block as a whole message lists it."""
    return {"type": "server_tool_use", "id": "srvtoolu_" + uuid.uuid4().hex[:24], "name": "web_search",
            "input": {"query": "; ".join(search.queries)}}


def result_block(tool_use_id: str, sources: list[Source]) -> dict[str, Any]:
    return {"type": "web_search_tool_result", "tool_use_id": tool_use_id,
            "content": [{"type": "web_search_result", "url": source.url, "title": source.title or source.url,
                         "encrypted_content": "", "page_age": None} for source in sources]}


def citation(source: Source) -> dict[str, Any]:
    return {"type": "web_search_result_location", "url": source.url, "title": source.title or source.url,
            "encrypted_index": "", "cited_text": (source.snippet or source.title)[:CITED_TEXT_CHARS]}


def cited_sources(text: str, sources: list[Source]) -> list[Source]:
    """The sources the markers in `text` cite, in order, each once."""
    numbered = {citations.number(source, position): source for position, source in enumerate(sources, 1)}
    cited: list[Source] = []
    for match in _MARKER.finditer(text):
        source = numbered.get(match.group(1))
        if source is not None and source not in cited:
            cited.append(source)
    return cited


class MarkerScanner:
    """Finds the citation markers of a streamed text as its deltas arrive (a marker may be split
    between two deltas): each delta's newly completed markers, as the sources they cite."""

    def __init__(self):
        self._tail = ""  # unscanned text that may begin a marker
        self._cited: set[tuple[str, str]] = set()

    def scan(self, text: str, sources: list[Source]) -> list[Source]:
        window = self._tail + text
        last_end, found = 0, []
        for match in _MARKER.finditer(window):
            last_end = match.end()
        for source in cited_sources(window[:last_end], sources):
            if (source.ref_id, source.url) not in self._cited:
                self._cited.add((source.ref_id, source.url))
                found.append(source)
        self._tail = window[last_end:][-_LONGEST_PARTIAL_MARKER:]
        return found
