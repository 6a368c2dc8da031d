"""Transformations of a neutral event stream that no one API owns (tool-call recognition, stop
sequences, how thinking is shown, ...), applied between the upstream client and the format renderers.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

from kimi.events import Event, Finished, TextDelta, ThinkingDelta, ToolCall
from kimi.usage import TokenCounter

Transform = Callable[[Iterable[Event]], Iterator[Event]]


def limit_answer(max_tokens: int) -> Transform:
    """A transform ending the answer with Finished("length") once its text reaches `max_tokens`
    (estimated): Kimi has no output limit of its own. The renderer then stops reading and closes the
    stream, which closes the upstream connection; both Kimi paths share this one cut."""
    def transform(events: Iterable[Event]) -> Iterator[Event]:
        counter = TokenCounter()
        for event in events:
            yield event
            if type(event) is TextDelta:
                counter.add(event.text)
                if counter.tokens >= max_tokens:
                    yield Finished("length")
                    return
    return transform


def stop_at_sequences(stops: list[str]) -> Transform:
    """A transform ending the answer at the first stop sequence its text completes: the text before
    it, then Finished("stop_sequence", stop_sequence=<it>), and nothing more is read (Kimi knows no
    stop sequences). Text streams on at once but for a tail that may begin a stop sequence, which
    leaves before the next thinking, tool call or Finished: a stop never spans those, and thinking
    and tool-call arguments are never scanned."""
    stops = [stop for stop in stops if stop]  # an empty stop would end every answer before it began

    def transform(events: Iterable[Event]) -> Iterator[Event]:
        if not stops:
            yield from events
            return
        held = ""
        for event in events:
            kind = type(event)
            if kind is TextDelta:
                text = held + event.text
                at, stop = _first_stop(text, stops)
                if stop:
                    if at:
                        yield TextDelta(text[:at])
                    yield Finished("stop_sequence", stop_sequence=stop)
                    return
                cut = len(text) - _stop_prefix_length(text, stops)
                text, held = text[:cut], text[cut:]
                if text:
                    yield TextDelta(text)
                continue
            if held and (kind is ThinkingDelta or kind is ToolCall or kind is Finished):
                yield TextDelta(held)
                held = ""
            yield event
        if held:  # the stream ended without Finished: what was held is answer all the same
            yield TextDelta(held)
    return transform


def _first_stop(text: str, stops: list[str]) -> tuple[int, Optional[str]]:
    """Where the stop sequence that ends first in `text` begins, and which one it is ((0, None) for
    none). Ending first, as a model writing token by token would have stopped there: the result then
    does not depend on how Kimi cut its deltas. Of two ending together, the longer one wins."""
    found = [(at + len(stop), at, stop) for stop in stops for at in (text.find(stop),) if at >= 0]
    if not found:
        return 0, None
    _, at, stop = min(found)
    return at, stop


def _stop_prefix_length(text: str, stops: list[str]) -> int:
    """Length of the longest end of `text` that begins some stop sequence (0 when none does)."""
    return max((size for stop in stops for size in range(1, min(len(stop), len(text) + 1))
                if text.endswith(stop[:size])), default=0)


# How thinking is shown (THINKING_OUTPUT): "separate" leaves ThinkingDelta to each format's own field.
THINKING_OUTPUTS = ("separate", "inline", "hidden")
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n\n"


def thinking_output(mode: str) -> Optional[Transform]:
    """The transform for a THINKING_OUTPUT mode; None for "separate" (nothing to change)."""
    if mode not in THINKING_OUTPUTS:
        raise ValueError(f"THINKING_OUTPUT must be one of {', '.join(THINKING_OUTPUTS)}, not {mode!r}")
    return {"inline": inline_thinking, "hidden": drop_thinking}.get(mode)


def inline_thinking(events: Iterable[Event]) -> Iterator[Event]:
    """Thinking as answer text inside <think>…</think>, for clients that show only text. Each stretch
    of thinking gets its own element (an agent thinks again between pieces of its answer)."""
    is_open = False
    for event in events:
        kind = type(event)
        if kind is ThinkingDelta:
            yield TextDelta(event.text if is_open else THINK_OPEN + event.text)
            is_open = True
            continue
        if is_open and (kind is TextDelta or kind is ToolCall or kind is Finished):
            is_open = False
            yield TextDelta(THINK_CLOSE)
        yield event


def drop_thinking(events: Iterable[Event]) -> Iterator[Event]:
    """Everything but thinking."""
    for event in events:
        if type(event) is not ThinkingDelta:
            yield event


AnswerCallback = Callable[[str, tuple, Finished], None]


def record_answer(on_finished: AnswerCallback) -> Transform:
    """A transform that passes events through and, just before Finished goes on, calls
    on_finished(answer text, tool calls, finished). Per event it costs a type test and, for text, a
    list append: the answer is joined once, at the end."""
    def transform(events: Iterable[Event]) -> Iterator[Event]:
        texts: list[str] = []
        calls: list[ToolCall] = []
        append = texts.append
        for event in events:
            kind = type(event)
            if kind is TextDelta:
                append(event.text)
            elif kind is ToolCall:
                calls.append(event)
            elif kind is Finished:
                # Before Finished is rendered: a client sending its next turn the moment this answer
                # ends must find what was recorded.
                on_finished("".join(texts), tuple(calls), event)
            yield event
    return transform
