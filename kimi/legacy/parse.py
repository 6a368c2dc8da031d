"""Legacy SSE events (docs/kimi-protocol.md B.4, B.5) as the neutral events of kimi.events (the `error_type`
table they lead to is kimi.errors.from_error_type's). No I/O.
"""
from __future__ import annotations

import json
from typing import Callable, Optional

from kimi import errors
from kimi.events import Citations, Event, Finished, MessageStarted, Source, TextDelta, ThinkingDelta, UpstreamError

# Kinds we know and deliberately drop: search planning and reference cards (B.4).
_IGNORED = frozenset({"debug", "ref_docs"})
POLICY_NOTE = "\n\n[Kimi stopped this answer: its content policy does not allow it to continue.]"


class QuotaUsedUp(errors.RateLimited):
    """A quota that does not lift within minutes (research mode): 429, but SDKs should not retry."""

    is_retryable = False


class LegacyParser:
    """Turns one completion's SSE event data into events; state lasts across continuations."""

    def __init__(self, *, show_sources: bool = True):
        self.show_sources = show_sources
        self.segment_id: Optional[str] = None  # the latest `req` id: what a continuation names (B.3)
        self.message_id: Optional[str] = None
        self.hit_length = False
        self.is_done = False  # a `done` came: a clean close afterwards is not a truncation
        self.is_all_done = False
        self.unknown_kinds: set[str] = set()
        self._urls: set[str] = set()

    def start_segment(self) -> None:
        """Reset the per-request flags before reading a continuation's stream."""
        self.hit_length = self.is_done = self.is_all_done = False

    def feed(self, data: str) -> list[Event]:
        """Events for one SSE `data` payload; malformed payloads are recorded, not raised."""
        try:
            payload = json.loads(data)
        except ValueError:
            self.unknown_kinds.add("shape:json")
            return []
        if not isinstance(payload, dict):
            self.unknown_kinds.add("shape:json")
            return []
        kind = payload.get("event")
        handler = _HANDLERS.get(kind)
        if handler is None:
            if kind not in _IGNORED:
                self.unknown_kinds.add(f"event:{kind}")
            return []
        events: list[Event] = []
        try:
            handler(self, payload, events)
        except (AttributeError, TypeError, KeyError):
            self.unknown_kinds.add(f"shape:{kind}")
        return events

    def _on_req(self, payload: dict, events: list) -> None:
        if payload.get("id"):
            self.segment_id = payload["id"]

    def _on_resp(self, payload: dict, events: list) -> None:
        # Continuations answer in new segments; the caller sees one message, named by the first id.
        message_id = payload.get("id")
        if message_id and self.message_id is None:
            self.message_id = message_id
            events.append(MessageStarted(message_id))

    def _on_cmpl(self, payload: dict, events: list) -> None:
        text = payload.get("text")
        if isinstance(text, str) and text:
            events.append(TextDelta(text))

    def _on_k1(self, payload: dict, events: list) -> None:
        text = payload.get("text")
        if isinstance(text, str) and text:  # K1.5 long thinking (B.4, one source)
            events.append(ThinkingDelta(text))

    def _on_search_plus(self, payload: dict, events: list) -> None:
        msg = payload.get("msg") or {}
        url = msg.get("url")
        if msg.get("type") != "get_res" or not url or url in self._urls:
            return
        self._urls.add(url)
        if self.show_sources:
            # Results arrive in order and `[^N^]` in the text counts them from 1 (fixture legacy_sse_search).
            events.append(Citations((Source(ref_id=str(len(self._urls)), url=url, title=msg.get("title") or ""),)))

    def _on_length(self, payload: dict, events: list) -> None:
        self.hit_length = True

    def _on_done(self, payload: dict, events: list) -> None:
        self.is_done = True  # one segment ended; more `cmpl` may follow until `all_done` (B.4)

    def _on_all_done(self, payload: dict, events: list) -> None:
        self.is_done = self.is_all_done = True
        events.append(Finished("length" if self.hit_length else "stop"))

    def _on_error(self, payload: dict, events: list) -> None:
        events.append(parse_error(payload.get("error")))


def parse_error(error: object) -> UpstreamError:
    """The UpstreamError of a legacy `{error_type, message, detail}` object (any shape tolerated)."""
    if not isinstance(error, dict):
        return UpstreamError(code="", message=str(error or ""))
    code, message = error.get("error_type"), error.get("message")
    return UpstreamError(code=code if isinstance(code, str) else "",
                         message=message if isinstance(message, str) else "")


_Handler = Callable[[LegacyParser, dict, list], None]
_HANDLERS: dict[Optional[str], _Handler] = {
    "req": LegacyParser._on_req,
    "resp": LegacyParser._on_resp,
    "cmpl": LegacyParser._on_cmpl,
    "k1": LegacyParser._on_k1,
    "search_plus": LegacyParser._on_search_plus,
    "length": LegacyParser._on_length,
    "done": LegacyParser._on_done,
    "all_done": LegacyParser._on_all_done,
    "error": LegacyParser._on_error,
}
