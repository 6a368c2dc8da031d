"""The one wrapper between an open Kimi answer and the format that renders it.

A Reply shows the answer through the request's transforms (gateway/filters.py, first innermost),
declares what a renderer may read of it (kimi.events.AnswerStream plus how the turn reached Kimi), and
runs the turn's own work on the two occasions a turn cares about: an upstream error in mid-stream,
and the close, once the upstream connection is released. It also notes, for the request log, the text it
passed (as a token estimate), the error that ended it and when it closed.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator, Optional

from gateway.filters import Transform
from kimi.errors import KimiError
from kimi.events import AnswerStream, Event, TextDelta, ThinkingDelta
from kimi.usage import TokenCounter

_COUNTED = (TextDelta, ThinkingDelta)  # what the formats count as output tokens (tool calls aside)


class Reply:
    """One layer however many transforms: each event passes their generators only."""

    def __init__(self, stream: AnswerStream, transforms: list[Transform], continuation: str = "",
                 on_error: Optional[Callable[[KimiError], None]] = None,
                 on_close: Optional[Callable[[AnswerStream], None]] = None, reply_key: str = "",
                 chat_id: Optional[str] = None, fallback_from: Optional[str] = None):
        self._stream = stream
        self.reply_key = reply_key  # what the formats spell this reply's id around (gateway/reply_ids.py)
        self._chat_id = chat_id  # the chat the turn was sent to, when Kimi does not name it again
        self._stages: list[Iterator[Event]] = []
        events: Iterable[Event] = stream
        for transform in transforms:
            events = transform(events)
            self._stages.append(events)
        self._events = iter(events)
        self._on_error = on_error
        self._on_close = on_close
        self._is_closed = False
        self.continuation = continuation  # "native", "folded" or "new": how the turn reached Kimi
        self.fallback_from = fallback_from  # the overloaded model, when another one answered (OVERLOAD_FALLBACK)
        self.output_tokens = TokenCounter()  # the text and thinking passed on, estimated as the formats do
        self.error: Optional[KimiError] = None  # the upstream error that ended the answer mid-stream
        self.closed_at: Optional[float] = None  # time.monotonic() at close

    @property
    def chat_id(self) -> Optional[str]:
        return self._stream.chat_id or self._chat_id

    @property
    def message_id(self) -> Optional[str]:
        return self._stream.message_id

    @property
    def prompt_tokens(self) -> int:
        return self._stream.prompt_tokens

    @property
    def model_id(self) -> str:
        return self._stream.model_id

    @property
    def has_pending(self) -> bool:
        # The answer's own: a transform emits what one event becomes at once, so at worst a renderer
        # writes a little earlier than it could have.
        return self._stream.has_pending

    @property
    def unknown_kinds(self) -> set[str]:
        return self._stream.unknown_kinds

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        try:
            event = next(self._events)
        except KimiError as err:
            self.error = err
            if self._on_error is not None:
                self._on_error(err)
            raise
        if type(event) in _COUNTED:
            self.output_tokens.add(event.text)
        return event

    def close(self) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        self.closed_at = time.monotonic()
        try:
            for stage in reversed(self._stages):  # outermost first, as the events flow back
                close = getattr(stage, "close", None)
                if close:
                    close()
        finally:
            try:
                self._stream.close()
            finally:
                if self._on_close is not None:
                    self._on_close(self._stream)


def apply_filters(stream: AnswerStream, transforms: list[Transform]) -> AnswerStream:
    """`stream` seen through the transforms, first transform innermost; `stream` itself for none."""
    return Reply(stream, transforms) if transforms else stream
