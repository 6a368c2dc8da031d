"""LegacyChatStream: the legacy completion's SSE as a closable iterator of neutral events, behaving
like kimi.connect.client.ChatStream for the blueprints. Continues the answer when Kimi stops at its length
limit (docs/kimi-protocol.md B.3), and deletes the temporary chat when closed.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterator, Optional

import requests

from kimi import errors
from kimi.events import CONTENT_EVENTS, ChatStarted, Event, Finished, MessageStarted, TextDelta, UpstreamError
from kimi.errors import CONTENT_POLICY_TYPES, from_error_type
from kimi.legacy.parse import POLICY_NOTE, LegacyParser
from kimi.rest import read_chunks
from kimi.sse import SSEDecoder
from kimi.transport import reading_answer
from kimi.stall import StallWatch, watching

MAX_CONTINUATIONS = 5  # one answer of up to six segments; past that the caller gets "length"


class LegacyChatStream:
    """Yields ChatStarted first and Finished last. `reopen(segment_id)` posts a continuation and
    returns its response; `cleanup()` runs once on close (deleting the temporary chat)."""

    def __init__(self, response: requests.Response, *, chat_id: str, parser: LegacyParser,
                 reopen: Callable[[str], requests.Response], cleanup: Callable[[], None],
                 on_auth_rejected: Callable[[], None], prompt_tokens: int = 0,
                 max_continuations: int = MAX_CONTINUATIONS, stalls: Optional[StallWatch] = None):
        self._response = response
        self._stalls = stalls  # keeps each segment's read deadline once its head is in (kimi/stall.py)
        self._parser = parser
        self._reopen = reopen
        self._cleanup = cleanup
        self._on_auth_rejected = on_auth_rejected
        self._max_continuations = max_continuations
        self._has_content = False
        self._pending: deque[Event] = deque()
        self._live = self._read_events()
        self._is_closed = False
        self.chat_id = chat_id
        self.message_id: Optional[str] = None
        self.prompt_tokens = prompt_tokens
        self.model_id = ""  # the legacy path chooses by flags, not by a model table entry
        self.continuations = 0

    @property
    def unknown_kinds(self) -> set[str]:
        return self._parser.unknown_kinds

    @property
    def has_pending(self) -> bool:
        """Always False: the legacy reader does not batch events per read, so each is written as it comes."""
        return False

    def peek(self) -> None:
        """Buffer events up to and including the first piece of content (errors raise)."""
        for event in self._live:
            self._pending.append(event)
            if isinstance(event, CONTENT_EVENTS):
                return

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._pending:
            return self._pending.popleft()
        return next(self._live)

    def close(self) -> None:
        """Release the upstream response and delete the temporary chat; safe to call twice."""
        if self._is_closed:
            return
        self._is_closed = True
        try:
            self._live.close()
            self._response.close()
        finally:
            self._cleanup()

    def _read_events(self) -> Iterator[Event]:
        try:
            yield ChatStarted(self.chat_id)
            while True:
                finished = yield from self._segment()
                if finished is None:  # a content-policy note already ended the answer
                    return
                if finished.reason == "length" and self._can_continue():
                    self._continue()
                    continue
                yield finished
                return
        finally:
            self._response.close()

    def _segment(self):
        """Yield one response's events; return its Finished, or None when the answer was ended here."""
        for event in self._events(self._response):
            if isinstance(event, Finished):
                return event
            if isinstance(event, UpstreamError):
                yield from self._fail(event)
                return None
            if isinstance(event, MessageStarted):
                self.message_id = event.message_id
            yield event
            if isinstance(event, TextDelta):
                self._has_content = True
        parser = self._parser
        if parser.is_done or parser.hit_length:
            # KFA treats a clean close after `done` as the end (B.4); `all_done` is not always awaited.
            return Finished("length" if parser.hit_length else "stop")
        raise errors.ProtocolError("Kimi's stream ended before the answer was complete.",
                                   code="upstream_truncated")

    def _fail(self, error: UpstreamError):
        if error.code in CONTENT_POLICY_TYPES and self._has_content:
            # Text already reached the caller: end it with a visible note rather than a silent cut.
            yield TextDelta(POLICY_NOTE)
            yield Finished("stop")
            return
        err = from_error_type(error.code, error.message)
        if isinstance(err, errors.AuthRejected):
            self._on_auth_rejected()
        raise err

    def _can_continue(self) -> bool:
        return self.continuations < self._max_continuations and bool(self._parser.segment_id)

    def _continue(self) -> None:
        self._response.close()
        self.continuations += 1
        self._parser.start_segment()
        try:
            self._response = self._reopen(self._parser.segment_id)
        except errors.AuthRejected:
            self._on_auth_rejected()
            raise

    def _events(self, response: requests.Response) -> Iterator[Event]:
        decoder = SSEDecoder()
        with watching(self._stalls, response) as watched, reading_answer(watched):
            for chunk in read_chunks(response, watched=watched):
                for data in decoder.feed(chunk):
                    yield from self._parser.feed(data)
        for data in decoder.finish():
            yield from self._parser.feed(data)
