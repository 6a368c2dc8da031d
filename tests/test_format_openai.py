"""Pure translation tests for blueprints/formats/openai.py: request parsing and rendering."""
from collections import deque

import orjson
import pytest

from blueprints.formats import openai as fmt
from blueprints.formats.common import STREAM_FAILURE
from kimi.errors import AuthRejected, BadRequest, RateLimited
from kimi.events import ChatRequest, Citations, Finished, Message, Source, TextDelta, ThinkingDelta, ToolCall


class FakeEvents:
    """What the renderers iterate: events plus the attributes ChatStream offers. `reads` groups the
    events as upstream reads would deliver them (default: each event in a read of its own)."""

    def __init__(self, events=(), chat_id="chat-1", fail_with=None, reads=None):
        self._reads = reads if reads is not None else [[event] for event in events]
        self._fail_with, self._pending = fail_with, deque()
        self.chat_id, self.prompt_tokens, self.closed = chat_id, 7, False
        self.reply_key = "5f1c0de05f1c0de05f1c0de05f1c0de0"  # the turn's key the reply ids are spelt around

    def __iter__(self):
        for read in self._reads:
            self._pending.extend(read)
            while self._pending:
                yield self._pending.popleft()
        if self._fail_with:
            raise self._fail_with

    @property
    def has_pending(self):
        return bool(self._pending)

    def close(self):
        self.closed = True


def chunks(body: bytes):
    lines = body.decode().split("\n\n")
    assert lines[-1] == ""
    return [orjson.loads(line[6:]) if line != "data: [DONE]" else "[DONE]" for line in lines[:-1]]


def test_parse_request_reads_model_messages_and_options():
    chat = fmt.parse_request({"model": "kimi-k2.5-thinking", "stream": True, "conversation_id": "c1",
                              "stream_options": {"include_usage": True},
                              "messages": [{"role": "system", "content": "S"},
                                           {"role": "user", "content": [{"type": "text", "text": "a"},
                                                                        {"type": "text", "text": "b"}]}]})
    assert chat == ChatRequest(model="kimi-k2.5-thinking", stream=True, conversation_id="c1",
                               include_usage=True,
                               messages=[Message("system", "S"), Message("user", "a\nb")])


@pytest.mark.parametrize("body, param", [
    ([], None),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": "hi"}, "messages"),
    ({"model": "m", "messages": ["hi"]}, "messages[0]"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
     "messages[0].content[0].text"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": True}, "max_tokens"),
])
def test_parse_request_rejects_malformed_bodies_naming_the_field(body, param):
    with pytest.raises(BadRequest) as caught:
        fmt.parse_request(body)
    assert caught.value.param == param


@pytest.mark.parametrize("effort, thinking", [("high", True), ("low", True), ("none", False), (None, None)])
def test_reasoning_effort_decides_thinking(effort, thinking):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    if effort:
        body["reasoning_effort"] = effort
    assert fmt.parse_request(body).thinking is thinking


def test_stream_renders_role_deltas_finish_and_done():
    chat = ChatRequest(model="my-model", messages=[], stream=True)
    events = FakeEvents([ThinkingDelta("hm"), TextDelta("Hi"), TextDelta(" there"), Finished("stop")])
    out = chunks(b"".join(fmt.stream_completion(events, chat)))
    deltas = [c["choices"][0]["delta"] for c in out[:-1]]
    assert deltas == [{"role": "assistant"}, {"reasoning_content": "hm"},
                      {"content": "Hi"}, {"content": " there"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in out[:-1]] == [None, None, None, None, "stop"]
    assert {(c["id"], c["model"], c["object"]) for c in out[:-1]} == {("chatcmpl-5f1c0de05f1c0de05f1c0de05f1c0de0", "my-model", "chat.completion.chunk")}
    assert out[-1] == "[DONE]" and events.closed


def test_stream_adds_usage_chunk_when_asked():
    chat = ChatRequest(model="m", messages=[], stream=True, include_usage=True)
    out = chunks(b"".join(fmt.stream_completion(FakeEvents([TextDelta("abcdefgh"), Finished()]), chat)))
    assert out[-2]["choices"] == []
    assert out[-2]["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def test_stream_ends_with_error_chunk_then_done_when_upstream_fails_mid_answer():
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = FakeEvents([TextDelta("par")], fail_with=RateLimited("Kimi is busy", code="resource_exhausted"))
    out = chunks(b"".join(fmt.stream_completion(events, chat)))
    assert out[-2] == {"error": {"message": "Kimi is busy", "type": "rate_limit_error", "param": None,
                                 "code": "resource_exhausted"}}
    assert out[-1] == "[DONE]"


def test_delta_text_is_json_escaped():
    chat = ChatRequest(model="m", messages=[], stream=True)
    text = 'quote " backslash \\ newline \n emoji 🚀 \u2028'
    out = chunks(b"".join(fmt.stream_completion(FakeEvents([TextDelta(text)]), chat)))
    assert out[1]["choices"][0]["delta"]["content"] == text


def test_deltas_that_arrive_in_one_read_leave_in_one_write_with_the_role_chunk_first():
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = FakeEvents(reads=[[TextDelta("a"), TextDelta("b")], [ThinkingDelta("c")], [Finished("stop")]])
    writes = [chunks(write) for write in fmt.stream_completion(events, chat)]
    assert [[c["choices"][0]["delta"] if c != "[DONE]" else c for c in write] for write in writes] == [
        [{"role": "assistant"}, {"content": "a"}, {"content": "b"}],
        [{"reasoning_content": "c"}],
        [{}, "[DONE]"]]


def test_last_read_leaves_together_with_finish_usage_and_done():
    chat = ChatRequest(model="m", messages=[], stream=True, include_usage=True)
    events = FakeEvents(reads=[[TextDelta("a")], [TextDelta("bcd"), Finished("length")]])
    writes = [chunks(write) for write in fmt.stream_completion(events, chat)]
    assert len(writes) == 2 and writes[1][0]["choices"][0]["delta"] == {"content": "bcd"}
    assert writes[1][1]["choices"][0]["finish_reason"] == "length"
    assert writes[1][2]["usage"]["completion_tokens"] == 1 and writes[1][3] == "[DONE]"


def test_error_after_a_read_is_written_with_done_after_that_read():
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = FakeEvents(reads=[[TextDelta("a")]], fail_with=RateLimited("busy", code="resource_exhausted"))
    writes = [chunks(write) for write in fmt.stream_completion(events, chat)]
    assert [len(write) for write in writes] == [2, 2]
    assert writes[1] == [{"error": {"message": "busy", "type": "rate_limit_error", "param": None,
                                    "code": "resource_exhausted"}}, "[DONE]"]
    assert events.closed


class PerEventSource:
    """An event source that never reports pending events (as kimi/legacy's stream): nothing says what
    arrived together."""

    has_pending = False

    def __init__(self, events):
        self._events, self.chat_id, self.prompt_tokens, self.reply_key = events, "chat-1", 7, "5f1c0de05f1c0de05f1c0de05f1c0de0"

    def __iter__(self):
        return iter(self._events)

    def close(self):
        pass


def test_event_sources_that_do_not_report_pending_events_are_written_per_event():
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = PerEventSource([TextDelta("a"), TextDelta("b"), Finished("stop")])
    writes = [chunks(write) for write in fmt.stream_completion(events, chat)]
    assert [len(write) for write in writes] == [2, 1, 2] and writes[-1][-1] == "[DONE]"


def test_whole_completion_has_message_reasoning_and_usage():
    chat = ChatRequest(model="kimi-k2.5-thinking", messages=[])
    body = fmt.whole_completion(FakeEvents([ThinkingDelta("think"), TextDelta("Answer."), Finished("length")]), chat)
    assert body["id"] == "chatcmpl-5f1c0de05f1c0de05f1c0de05f1c0de0" and body["object"] == "chat.completion" and body["model"] == "kimi-k2.5-thinking"
    assert body["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "length",
                                "message": {"role": "assistant", "content": "Answer.", "refusal": None,
                                            "reasoning_content": "think"}}]
    assert body["usage"]["prompt_tokens"] == 7 and body["usage"]["completion_tokens"] > 0


def test_error_body_shape():
    err = AuthRejected("bad token", code="unauthenticated")
    assert fmt.error_body(err) == {"error": {"message": "bad token", "type": "authentication_error",
                                             "param": None, "code": "unauthenticated"}}


def test_stream_renders_a_tool_call_as_an_opening_chunk_then_its_arguments():
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = FakeEvents([TextDelta("Hi"), ToolCall("call_1", "f", '{"a": 1}'), ToolCall("call_2", "g", "{}"),
                         Finished("tool_calls")])
    out = chunks(b"".join(fmt.stream_completion(events, chat)))
    assert [c["choices"][0]["delta"] for c in out[1:-2]] == [
        {"content": "Hi"},
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]},
        {"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}]
    assert out[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}


def test_stream_of_a_tool_call_answer_opens_with_role_and_null_content_beside_the_call():
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = FakeEvents([ToolCall("call_1", "f", '{"a": 1}'), Finished("tool_calls")])
    out = chunks(b"".join(fmt.stream_completion(events, chat)))
    assert [c["choices"][0]["delta"] for c in out[:-2]] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]}]


def test_stream_of_an_empty_answer_still_sends_the_role_first():
    chat = ChatRequest(model="m", messages=[], stream=True)
    out = chunks(b"".join(fmt.stream_completion(FakeEvents([TextDelta(""), Finished("stop")]), chat)))
    assert [c["choices"][0]["delta"] for c in out[:-1]] == [{"role": "assistant"}, {}]


def test_whole_completion_with_only_calls_has_null_content_and_tool_calls():
    events = FakeEvents([ToolCall("call_1", "f", '{"a": 1}'), Finished("tool_calls")])
    choice = fmt.whole_completion(events, ChatRequest(model="m", messages=[]))["choices"][0]
    assert choice == {"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "refusal": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}}


SOURCES = Citations((Source("1", "https://a.example/x", "Alpha"), Source("", "https://b.example/y")))
SOURCE_LIST = "\n\nSources:\n[1] Alpha — https://a.example/x\n[2] https://b.example/y"


def test_stream_appends_the_source_list_with_annotations_before_finishing():
    chat = ChatRequest(model="m", messages=[], stream=True)
    out = chunks(b"".join(fmt.stream_completion(FakeEvents([SOURCES, TextDelta("Answer[^1^]."), Finished()]), chat)))
    delta = out[-3]["choices"][0]["delta"]
    assert delta["content"] == SOURCE_LIST
    first = len("Answer[^1^].\n\nSources:\n")
    second = first + len("[1] Alpha — https://a.example/x\n")
    assert delta["annotations"] == [
        {"type": "url_citation", "url_citation": {"url": "https://a.example/x", "title": "Alpha",
                                                  "start_index": first, "end_index": second - 1}},
        {"type": "url_citation", "url_citation": {"url": "https://b.example/y", "title": "",
                                                  "start_index": second, "end_index": second + 23}}]


def test_whole_completion_annotations_point_at_their_entries():
    message = fmt.whole_completion(FakeEvents([SOURCES, TextDelta("Answer."), Finished()]),
                                   ChatRequest(model="m", messages=[]))["choices"][0]["message"]
    assert message["content"] == "Answer." + SOURCE_LIST
    spans = [message["content"][a["url_citation"]["start_index"]:a["url_citation"]["end_index"]]
             for a in message["annotations"]]
    assert spans == ["[1] Alpha — https://a.example/x", "[2] https://b.example/y"]


def test_a_crash_while_streaming_is_logged_once_and_ends_with_an_api_error(caplog):
    chat = ChatRequest(model="m", messages=[], stream=True)
    events = FakeEvents([TextDelta("par")], fail_with=RuntimeError("boom"))
    out = chunks(b"".join(fmt.stream_completion(events, chat)))
    assert out[-2:] == [{"error": {"message": STREAM_FAILURE.message, "type": "api_error", "param": None,
                                   "code": "internal_error"}}, "[DONE]"]
    assert [(r.levelname, r.exc_info[1].args) for r in caplog.records] == [("ERROR", ("boom",))]
    assert events.closed
