"""Pure tests for the shared pass over a reply's events (blueprints/formats/common.py)."""
import logging

import pytest

from blueprints.formats.common import (STREAM_FAILURE, Answer, Transcript, fold_events, stream_by_reads,
                                       stream_error)
from kimi.errors import RateLimited
from kimi.events import (ChatStarted, Citations, Finished, MessageStarted, Source, TextDelta, ThinkingDelta,
                         ToolCall)
from tests.test_format_openai import FakeEvents, PerEventSource

CALL = ToolCall("call_1", "f", '{"a": 1}')
ALPHA, BETA = Source("1", "https://a.example/x", "Alpha"), Source("2", "https://b.example/y")


class Labels(Answer):
    """Renders each piece as a short label, so a test can read what reached the renderers."""

    def render_text(self, text):
        return b"T" + text.encode()

    def render_thinking(self, text):
        return b"R" + text.encode()

    def render_call(self, call):
        return b"C" + call.name.encode()


@pytest.mark.parametrize("event, written", [
    (TextDelta("hi"), b"Thi"),
    (ThinkingDelta("hm"), b"Rhm"),
    (CALL, b"Cf"),
    (Citations((ALPHA,)), b""),
    (Finished("length"), b""),
    (ChatStarted("chat-1"), b""),
    (MessageStarted("m-1"), b""),
])
def test_feed_hands_content_to_its_renderer_and_writes_nothing_for_the_rest(event, written):
    assert Labels().feed(event) == written


def test_answer_without_a_finished_event_ends_as_a_plain_stop():
    answer = Labels()
    answer.feed(TextDelta("a"))
    assert (answer.finished, answer.is_finished) == (Finished("stop"), False)


def test_the_last_finished_event_is_kept():
    answer = fold_events(FakeEvents(reads=[[Finished("length"), Finished("stop_sequence", "END")]]), Labels())
    assert (answer.finished, answer.is_finished) == (Finished("stop_sequence", "END"), True)


def test_sources_are_kept_once_each_in_the_order_they_came():
    events = FakeEvents(reads=[[Citations((ALPHA,)), Citations((BETA, ALPHA))]])
    assert fold_events(events, Labels()).sources == [ALPHA, BETA]


@pytest.mark.parametrize("apart, text_tokens, thinking_tokens", [(False, 4, 4), (True, 3, 1)])
def test_thinking_is_counted_with_the_text_or_apart(apart, text_tokens, thinking_tokens):
    events = FakeEvents(reads=[[ThinkingDelta("abcd"), TextDelta("abcdefgh"), ToolCall("call_1", "f", "abcd")]])
    answer = fold_events(events, Labels(is_thinking_counted_apart=apart))
    assert (answer.text_tokens.tokens, answer.thinking_tokens.tokens) == (text_tokens, thinking_tokens)


def test_transcript_keeps_text_runs_between_calls_and_every_thinking_piece():
    events = FakeEvents([ThinkingDelta(""), TextDelta("a"), ThinkingDelta("x"), TextDelta(""), TextDelta("b"),
                         CALL, TextDelta("c")])
    answer = fold_events(events, Transcript())
    assert answer.content == [["a", "b"], CALL, ["c"]]
    assert (answer.text(), answer.thinking(), answer.thoughts, answer.calls()) == ("abc", "x", ["", "x"], [CALL])


def test_fold_closes_the_events_when_they_fail():
    events = FakeEvents(reads=[[TextDelta("a")]], fail_with=RateLimited("busy"))
    with pytest.raises(RateLimited):
        fold_events(events, Transcript())
    assert events.closed


def by_reads(events):
    return list(stream_by_reads(events, Labels(), b"<", lambda: b">", lambda exc: b"!" + str(exc).encode()))


@pytest.mark.parametrize("reads, writes", [
    ([[TextDelta("a"), TextDelta("b")], [ThinkingDelta("c")], [Finished()]], [b"<TaTb", b"Rc", b">"]),
    ([[TextDelta("a")], [TextDelta("b"), Finished(), TextDelta("c")]], [b"<Ta", b"TbTc>"]),
    ([[Citations((ALPHA,))], [TextDelta("a")]], [b"<", b"Ta", b">"]),
    ([[ChatStarted("c")], [Citations((ALPHA,))], [CALL]], [b"<", b"Cf", b">"]),
])
def test_stream_by_reads_writes_each_read_once_and_the_rest_after_the_finish_with_the_closing(reads, writes):
    events = FakeEvents(reads=reads)
    assert by_reads(events) == writes and events.closed


def test_stream_by_reads_writes_per_event_for_a_source_that_reports_no_reads():
    assert by_reads(PerEventSource([TextDelta("a"), TextDelta("b"), Finished()])) == [b"<Ta", b"Tb", b">"]


def test_stream_by_reads_ends_a_broken_stream_with_the_failure_after_the_read_so_far():
    events = FakeEvents(reads=[[TextDelta("a")]], fail_with=RuntimeError("boom"))
    assert by_reads(events) == [b"<Ta", b"!boom"] and events.closed


def test_stream_by_reads_closes_the_events_when_the_client_leaves():
    events = FakeEvents(reads=[[TextDelta("a")], [TextDelta("b")]])
    writes = stream_by_reads(events, Labels(), b"<", lambda: b">", lambda exc: b"!")
    assert next(writes) == b"<Ta"
    writes.close()
    assert events.closed


def test_stream_error_passes_kimi_errors_and_logs_a_crash_once(caplog):
    busy = RateLimited("busy")
    assert stream_error(busy, logging.getLogger("t"), "x") is busy and caplog.records == []
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        assert stream_error(exc, logging.getLogger("t"), "chat.completion") is STREAM_FAILURE
    assert [(r.getMessage(), r.exc_info[1].args) for r in caplog.records] == [
        ("rendering a chat.completion stream failed after it began", ("boom",))]
