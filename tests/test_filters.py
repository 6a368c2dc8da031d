import pytest

from kimi.events import Citations, Finished, TextDelta, ThinkingDelta, Tool, ToolCall
from kimi.events import Source as WebSource
from gateway.filters import limit_answer, stop_at_sequences
from gateway.reply import apply_filters
from kimi.tools import recognize_tool_calls


class Source:
    def __init__(self, events):
        self._events = iter(events)
        self.chat_id, self.prompt_tokens, self.closed = "chat-9", 3, False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._events)

    def close(self):
        self.closed = True


def test_filtered_stream_keeps_the_stream_attributes_and_closes_the_source():
    source = Source([TextDelta('<tool_call>{"name": "f", "arguments": {}}</tool_call>'), Finished()])
    stream = apply_filters(source, [lambda events: recognize_tool_calls(events, [Tool("f")])])
    events = list(stream)
    assert (stream.chat_id, stream.prompt_tokens) == ("chat-9", 3)
    assert isinstance(events[0], ToolCall) and events[-1] == Finished("tool_calls")
    stream.close()
    assert source.closed


def test_no_filters_is_the_stream_itself():
    source = Source([])
    assert apply_filters(source, []) is source


def test_limit_answer_ends_the_answer_once_its_text_reaches_max_tokens():
    source = [ThinkingDelta("long thoughts are not counted"), TextDelta("Set up"), TextDelta(" a dedicated"),
              TextDelta(" workspace"), Finished("stop")]
    events = list(limit_answer(3)(iter(source)))
    assert events == source[:3] + [Finished("length")]  # 2 + 3 estimated tokens reach the limit


def test_limit_answer_leaves_a_shorter_answer_alone():
    source = [TextDelta("Hi"), Finished("stop")]
    assert list(limit_answer(50)(iter(source))) == source


CALL = ToolCall("c1", "f", "{}")
CITED = Citations((WebSource("1", "https://a.example"),))


def stop_at(stops, events):
    return list(stop_at_sequences(stops)(iter(events)))


def at_stop(sequence):
    return Finished("stop_sequence", stop_sequence=sequence)


@pytest.mark.parametrize("events, stops, expected", [
    # inside one delta: the text before it, then the end; nothing after it is read
    ([TextDelta("Hello END world"), TextDelta("more"), Finished()], ["END"], [TextDelta("Hello "), at_stop("END")]),
    # split across deltas: only "E", then "EN", is held back
    ([TextDelta("Hello E"), TextDelta("N"), TextDelta("D more"), Finished()], ["END"],
     [TextDelta("Hello "), at_stop("END")]),
    # a held tail that turns out not to be a stop leaves with the next delta, a new one is held
    ([TextDelta("Hello E"), TextDelta("NX? no, EN"), Finished()], ["END"],
     [TextDelta("Hello "), TextDelta("ENX? no, "), TextDelta("EN"), Finished()]),
    # ... or just before Finished, which keeps its own reason
    ([TextDelta("ends with E"), Finished("length")], ["END"],
     [TextDelta("ends with "), TextDelta("E"), Finished("length")]),
    # ... or just before a tool call: a stop never spans one, and its arguments are never scanned
    ([TextDelta("Calling E"), ToolCall("c1", "f", '{"q": "END"}'), TextDelta("ND"), Finished("tool_calls")], ["END"],
     [TextDelta("Calling "), TextDelta("E"), ToolCall("c1", "f", '{"q": "END"}'), TextDelta("ND"),
      Finished("tool_calls")]),
    # thinking is never scanned, and a stop never spans it
    ([ThinkingDelta("I must not say END"), TextDelta("Fine E"), ThinkingDelta("hm"), TextDelta("ND"), Finished()],
     ["END"], [ThinkingDelta("I must not say END"), TextDelta("Fine "), TextDelta("E"), ThinkingDelta("hm"),
               TextDelta("ND"), Finished()]),
    # sources are no content: a stop may span them
    ([TextDelta("a E"), CITED, TextDelta("ND b"), Finished()], ["END"], [TextDelta("a "), CITED, at_stop("END")]),
    # a stream ending without Finished still gets its held tail
    ([TextDelta("tail E")], ["END"], [TextDelta("tail "), TextDelta("E")]),
    # several stops: the first to be complete wins, whatever their order
    ([TextDelta("one two STOP"), Finished()], ["STOP", "two"], [TextDelta("one "), at_stop("two")]),
    ([TextDelta("abXYZQ"), Finished()], ["XYZQ", "Y"], [TextDelta("abX"), at_stop("Y")]),
    ([TextDelta("aXYZ"), Finished()], ["Z", "XYZ"], [TextDelta("a"), at_stop("XYZ")]),  # ending together
    # a stop at the very start leaves no text at all
    ([TextDelta("END"), Finished()], ["END"], [at_stop("END")]),
])
def test_stop_at_sequences(events, stops, expected):
    assert stop_at(stops, events) == expected


@pytest.mark.parametrize("stops", [[], [""]])
def test_stop_at_sequences_without_stops_passes_the_very_events_through(stops):
    events = [CITED, ThinkingDelta("END"), TextDelta("END"), TextDelta(""), CALL, Finished()]
    out = stop_at(stops, events)
    assert out == events and all(a is b for a, b in zip(out, events))


def cuts_of(text):
    """Every way of cutting `text` in two, and into deltas of every size."""
    for at in range(1, len(text)):
        yield [text[:at], text[at:]]
        yield [text[i:i + at] for i in range(0, len(text), at)]


@pytest.mark.parametrize("text, stops", [("Set up a workspace. STOP here", ["STOP", "up a"]),
                                         ("abXYZQ cd", ["XYZQ", "Y"]), ("no stop at all", ["STOPS"])])
def test_stop_at_sequences_does_not_depend_on_how_the_text_is_cut(text, stops):
    whole = stop_at(stops, [TextDelta(text), Finished()])
    for pieces in cuts_of(text):
        out = stop_at(stops, [TextDelta(piece) for piece in pieces] + [Finished()])
        assert ("".join(e.text for e in out[:-1]), out[-1]) == ("".join(e.text for e in whole[:-1]), whole[-1])


def test_stop_at_sequences_stops_reading_and_the_filtered_stream_closes_the_source():
    def events():
        yield TextDelta("done END")
        raise AssertionError("read past the stop sequence")
    source = Source(events())
    stream = apply_filters(source, [stop_at_sequences(["END"])])
    assert list(stream) == [TextDelta("done "), at_stop("END")]
    stream.close()
    assert source.closed
