"""Transformations of a neutral event stream that no one API owns (tool-call recognition, how
thinking is shown, ...), applied between the upstream client and the format renderers.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from kimi.events import Event

Transform = Callable[[Iterable[Event]], Iterator[Event]]


class FilteredStream:
    """A chat stream seen through a transform: same attributes and close(), other events.

    `has_pending` is the inner stream's: a transform emits what one event becomes at once, so at
    worst a renderer writes a little earlier than it could have.
    """

    def __init__(self, inner: Any, transform: Transform):
        self._inner = inner
        self._events = transform(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        try:
            close = getattr(self._events, "close", None)
            if close:
                close()
        finally:
            self._inner.close()


def apply_filters(stream: Any, transforms: list[Transform]) -> Any:
    """`stream` wrapped once per transform, first transform innermost."""
    for transform in transforms:
        stream = FilteredStream(stream, transform)
    return stream
