"""Web sources Kimi consulted, as the numbered list appended after an answer (for APIs whose only
place for them is the text) with the span each entry takes in it. Pure: kimi.events only.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

from kimi.events import Source

HEADER = "\n\nSources:\n"


class Entry(NamedTuple):
    source: Source
    start: int  # offsets in the whole answer text, list included (Python characters)
    end: int


def number(source: Source, position: int) -> str:
    """The number the answer's `[^N^]` markers use for this source, else its position in the list."""
    return source.ref_id if source.ref_id.isdigit() else str(position)


def source_list(sources: Iterable[Source], offset: int) -> tuple[str, list[Entry]]:
    """The list text ("\\n\\nSources:\\n[1] Title — url") and each entry's span, the list starting
    at `offset` in the answer."""
    text = HEADER
    entries = []
    for position, source in enumerate(sources, 1):
        line = f"[{number(source, position)}] {source.title} — {source.url}" if source.title \
            else f"[{number(source, position)}] {source.url}"
        start = offset + len(text)
        entries.append(Entry(source, start, start + len(line)))
        text += line + "\n"
    return text.rstrip("\n"), entries


def unique(sources: list[Source], new: Iterable[Source]) -> None:
    """Adds the sources of `new` not yet in `sources` (the legacy path repeats none, Connect may)."""
    known = {(source.ref_id, source.url) for source in sources}
    for source in new:
        if (source.ref_id, source.url) not in known:
            known.add((source.ref_id, source.url))
            sources.append(source)
