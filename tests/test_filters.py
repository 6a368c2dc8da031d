from kimi.events import Finished, TextDelta, Tool, ToolCall
from kimi.filters import apply_filters
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
    from kimi.events import ThinkingDelta
    from kimi.filters import limit_answer
    source = [ThinkingDelta("long thoughts are not counted"), TextDelta("Set up"), TextDelta(" a dedicated"),
              TextDelta(" workspace"), Finished("stop")]
    events = list(limit_answer(3)(iter(source)))
    assert events == source[:3] + [Finished("length")]  # 2 + 3 estimated tokens reach the limit


def test_limit_answer_leaves_a_shorter_answer_alone():
    from kimi.filters import limit_answer
    source = [TextDelta("Hi"), Finished("stop")]
    assert list(limit_answer(50)(iter(source))) == source
