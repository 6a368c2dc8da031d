"""Pure translation tests for blueprints/formats/anthropic.py: parsing, counting, rendering, errors."""
import orjson
import pytest

from blueprints.formats import anthropic as fmt
from kimi.errors import (AuthRejected, BadRequest, BusyForFreeUsers, KimiError, Overloaded, PaymentRequired,
                         PayloadTooLarge, RateLimited, UpstreamTimeout, UpstreamUnavailable)
from blueprints.formats.common import STREAM_FAILURE
from kimi.events import (Attachment, ChatRequest, ChatStarted, Citations, Finished, Message, Source, TextDelta,
                         ThinkingDelta, Tool, ToolCall)
from gateway.filters import stop_at_sequences
from gateway.reply import apply_filters
from kimi.models import ModelSpec

USER = [{"role": "user", "content": "hi"}]


class FakeEvents:
    """What the renderers iterate: events plus the attributes ChatStream offers."""

    def __init__(self, events, chat_id="chat-1", fail_with=None):
        self._events, self._fail_with = events, fail_with
        self.chat_id, self.prompt_tokens, self.closed = chat_id, 7, False
        self.reply_key = "5f1c0de05f1c0de05f1c0de05f1c0de0"  # the turn's key the reply ids are spelt around

    def __iter__(self):
        yield from self._events
        if self._fail_with:
            raise self._fail_with

    def close(self):
        self.closed = True


def stopping(events, chat):
    """What the renderer reads: the request's stop sequences applied, as blueprints/upstream.py does."""
    return apply_filters(events, [stop_at_sequences(chat.stop)] if chat.stop else [])


def body(**fields):
    return {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": USER, **fields}


def stream(events, **chat_fields):
    """(event name, data) pairs of a rendered stream, checking each frame's wire layout."""
    chat = ChatRequest(model="claude-x", messages=[], stream=True, **chat_fields)
    raw = b"".join(fmt.stream_message(stopping(FakeEvents(events), chat), chat)).decode()
    frames = raw.split("\n\n")
    assert frames[-1] == ""
    pairs = []
    for frame in frames[:-1]:
        name_line, data_line = frame.split("\n")
        name, data = name_line.removeprefix("event: "), orjson.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        pairs.append((name, data))
    return pairs


def outline(pairs):
    """Events without the message envelope: (name, index, delta type or block type, text)."""
    rows = []
    for name, data in pairs:
        if name == "content_block_start":
            rows.append((name, data["index"], data["content_block"]["type"]))
        elif name == "content_block_delta":
            delta = data["delta"]
            rows.append((name, data["index"], delta["type"], delta.get("text", delta.get("thinking"))))
        elif name == "content_block_stop":
            rows.append((name, data["index"]))
        elif name == "message_delta":
            rows.append((name, data["delta"]["stop_reason"], data["delta"]["stop_sequence"]))
        else:
            rows.append((name,))
    return rows


def test_parse_request_reads_model_system_messages_and_options():
    chat = fmt.parse_request(body(system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "x"}},
                                          {"type": "text", "text": "Be kind."}],
                                  stream=True, conversation_id="c1", stop_sequences=["END"],
                                  metadata={"user_id": "u"}, temperature=0.2, top_p=0.9, top_k=5,
                                  tools=[{"name": "t"}], tool_choice={"type": "auto"}))
    assert chat == ChatRequest(model="claude-sonnet-4-6", stream=True, conversation_id="c1", max_tokens=64,
                               stop=["END"], messages=[Message("system", "Be brief.\nBe kind."),
                                                       Message("user", "hi")], tools=[Tool("t")])


def test_parse_request_turns_blocks_into_attachments_tool_calls_and_tool_messages():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": "AAAA"}},
                                     {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "secret plan", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Running it."},
            {"type": "tool_use", "id": "tu_1", "name": "Bash", "input": {"command": "ls"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "a.txt"}]},
            {"type": "tool_result", "tool_use_id": "tu_2", "is_error": True, "content": "denied"},
            {"type": "text", "text": "Now read it."}]}]
    chat = fmt.parse_request(body(system="Sys", messages=messages))
    assert chat.messages == [
        Message("system", "Sys"),
        Message("user", "Look:", (Attachment("data:image/png;base64,AAAA"), Attachment("https://x/y.jpg"))),
        Message("assistant", "Running it.", tool_calls=(ToolCall("tu_1", "Bash", '{"command": "ls"}'),)),
        Message("tool", "a.txt", tool_call_id="tu_1", name="Bash"),
        Message("tool", "[error] denied", tool_call_id="tu_2"),
        Message("user", "Now read it.")]


@pytest.mark.parametrize("thinking, expected", [
    (None, None), ({"type": "enabled", "budget_tokens": 1024}, True), ({"type": "adaptive"}, True),
    ({"type": "disabled"}, False)])
def test_thinking_setting_decides_thinking(thinking, expected):
    assert fmt.parse_request(body(thinking=thinking)).thinking is expected


@pytest.mark.parametrize("bad, param", [
    ({"model": None}, "model"),
    ({"max_tokens": None}, "max_tokens"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": "5"}, "max_tokens"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, "messages[0].content[0].text"),
    ({"system": 3}, "system"),
    ({"system": [{"type": "text"}]}, "system[0]"),
    ({"thinking": {"type": "on"}}, "thinking.type"),
    ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({"stop_sequences": "END"}, "stop_sequences"),
    ({"stop_sequences": [""]}, "stop_sequences"),
    ({"stream": "yes"}, "stream"),
    ({"metadata": "m"}, "metadata"),
    ({"conversation_id": 5}, "conversation_id"),
])
def test_parse_request_rejects_malformed_bodies_naming_the_field(bad, param):
    with pytest.raises(BadRequest) as caught:
        fmt.parse_request({**body(), **bad})
    assert caught.value.param == param and caught.value.status == 400


def test_parse_request_rejects_a_body_that_is_not_an_object():
    with pytest.raises(BadRequest):
        fmt.parse_request([])


def test_count_tokens_counts_tools_tool_blocks_and_thinking():
    plain = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    tools = [{"name": "Bash", "description": "Run a shell command. " * 20,
              "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]
    with_tools = fmt.count_tokens({**plain, "tools": tools})["input_tokens"]
    tool_turns = [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash",
                                                     "input": {"command": "x" * 400}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "y" * 400}]}]
    with_turns = fmt.count_tokens({**plain, "messages": plain["messages"] + tool_turns})["input_tokens"]
    thought = [{"role": "assistant", "content": [{"type": "thinking", "thinking": "z" * 400, "signature": "s"}]}]
    with_thought = fmt.count_tokens({**plain, "messages": plain["messages"] + thought})["input_tokens"]
    assert fmt.count_tokens(plain) == {"input_tokens": 1}
    assert with_tools > 100 and with_turns > 200 and with_thought > 100


@pytest.mark.parametrize("bad, param", [({"messages": []}, "messages"), ({"tools": [1]}, "tools[0]"),
                                        ({"tools": {}}, "tools"), ({"model": 1}, "model")])
def test_count_tokens_rejects_malformed_bodies(bad, param):
    with pytest.raises(BadRequest) as caught:
        fmt.count_tokens({"model": "m", "messages": USER, **bad})
    assert caught.value.param == param


def test_stream_renders_thinking_then_text_with_exact_sequence_and_indexes():
    pairs = stream([ChatStarted("c"), ThinkingDelta("Hm"), ThinkingDelta(" ok"), TextDelta("Hi"),
                    TextDelta(" there"), Finished("stop")])
    assert outline(pairs) == [
        ("message_start",), ("content_block_start", 0, "thinking"), ("ping",),
        ("content_block_delta", 0, "thinking_delta", "Hm"), ("content_block_delta", 0, "thinking_delta", " ok"),
        ("content_block_delta", 0, "signature_delta", None), ("content_block_stop", 0),
        ("content_block_start", 1, "text"), ("content_block_delta", 1, "text_delta", "Hi"),
        ("content_block_delta", 1, "text_delta", " there"), ("content_block_stop", 1),
        ("message_delta", "end_turn", None), ("message_stop",)]
    assert pairs[5][1]["delta"]["signature"]
    assert pairs[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}


def test_stream_message_start_and_delta_carry_envelope_and_usage():
    pairs = stream([TextDelta("Hello"), Finished("stop")])
    start, delta = pairs[0][1]["message"], pairs[-2][1]
    assert start["id"].startswith("msg_") and len(start["id"]) > 20
    assert {k: v for k, v in start.items() if k != "id"} == {
        "type": "message", "role": "assistant", "model": "claude-x", "content": [], "stop_reason": None,
        "stop_sequence": None, "conversation_id": "chat-1",
        "usage": {"input_tokens": 7, "output_tokens": 1, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0}}
    assert delta == {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                     "usage": {"input_tokens": 7, "output_tokens": 2, "cache_creation_input_tokens": 0,
                               "cache_read_input_tokens": 0}}
    assert pairs[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}


def test_stream_opens_a_new_block_when_thinking_resumes_after_text():
    rows = outline(stream([TextDelta("a"), ThinkingDelta("b"), TextDelta("c"), Finished()]))
    assert [r for r in rows if r[0] in ("content_block_start", "content_block_stop")] == [
        ("content_block_start", 0, "text"), ("content_block_stop", 0),
        ("content_block_start", 1, "thinking"), ("content_block_stop", 1),
        ("content_block_start", 2, "text"), ("content_block_stop", 2)]


def test_stream_of_an_empty_answer_has_one_empty_text_block():
    assert outline(stream([ChatStarted("c"), TextDelta(""), Finished("stop")])) == [
        ("message_start",), ("content_block_start", 0, "text"), ("ping",), ("content_block_stop", 0),
        ("message_delta", "end_turn", None), ("message_stop",)]


def test_stream_cut_by_max_tokens_stops_with_max_tokens():
    rows = outline(stream([TextDelta("Hello"), Finished("length")], max_tokens=1))
    assert rows[-2] == ("message_delta", "max_tokens", None)


@pytest.mark.parametrize("pieces, stop, text, sequence", [
    (["Hello wor", "ld END", " and more"], ["END"], "Hello world ", "END"),
    (["Hello E", "N", "D more"], ["END"], "Hello ", "END"),
    (["abcXY", "Z"], ["XYZ", "YZQ"], "abc", "XYZ"),
    (["one", " two STOP"], ["STOP", "two"], "one ", "two"),
])
def test_stream_applies_stop_sequences_split_across_deltas(pieces, stop, text, sequence):
    rows = outline(stream([TextDelta(p) for p in pieces] + [Finished()], stop=stop))
    assert "".join(r[3] for r in rows if r[0] == "content_block_delta") == text
    assert rows[-2:] == [("message_delta", "stop_sequence", sequence), ("message_stop",)]


def test_stream_holds_back_only_a_possible_stop_prefix():
    rows = outline(stream([TextDelta("Hello E"), TextDelta("NX? no, EN"), Finished()], stop=["END"]))
    assert [r[3] for r in rows if r[0] == "content_block_delta"] == ["Hello ", "ENX? no, ", "EN"]
    assert rows[-2] == ("message_delta", "end_turn", None)


def test_stop_sequence_stops_reading_upstream():
    # Were the renderer to read on, the error queued behind the stop sequence would surface.
    events = FakeEvents([TextDelta("done END")], fail_with=AuthRejected())
    chat = ChatRequest(model="m", messages=[], stream=True, stop=["END"])
    out = b"".join(fmt.stream_message(stopping(events, chat), chat))
    assert b"event: error" not in out and out.endswith(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    assert events.closed


def test_stream_error_mid_answer_ends_with_an_error_event():
    events = FakeEvents([TextDelta("Owls")], fail_with=AuthRejected("Kimi: Please sign in"))
    out = b"".join(fmt.stream_message(events, ChatRequest(model="m", messages=[], stream=True)))
    assert out.endswith(b'event: error\ndata: {"type":"error","error":{"type":"authentication_error",'
                        b'"message":"Kimi: Please sign in"}}\n\n')
    assert events.closed


def test_whole_message_has_thinking_block_before_text():
    events = FakeEvents([ChatStarted("c"), ThinkingDelta("Hm"), TextDelta("Hi"), Finished("stop")])
    reply = fmt.whole_message(events, ChatRequest(model="claude-x", messages=[]))
    assert reply["id"].startswith("msg_") and reply["content"][0]["signature"]
    assert {k: v for k, v in reply.items() if k != "id"} == {
        "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "thinking", "thinking": "Hm", "signature": reply["content"][0]["signature"]},
                    {"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn", "stop_sequence": None, "conversation_id": "chat-1",
        "usage": {"input_tokens": 7, "output_tokens": 1, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0}}
    assert events.closed


@pytest.mark.parametrize("events, stop, content, stop_reason, stop_sequence", [
    ([TextDelta("abc"), Finished("length")], [], [{"type": "text", "text": "abc"}], "max_tokens", None),
    ([Finished()], [], [{"type": "text", "text": ""}], "end_turn", None),
    ([TextDelta("say EN"), TextDelta("D now")], ["END"], [{"type": "text", "text": "say "}], "stop_sequence", "END"),
    ([TextDelta("tail E"), Finished()], ["END"], [{"type": "text", "text": "tail E"}], "end_turn", None),
])
def test_whole_message_stop_reasons(events, stop, content, stop_reason, stop_sequence):
    chat = ChatRequest(model="m", messages=[], stop=stop)
    reply = fmt.whole_message(stopping(FakeEvents(events), chat), chat)
    assert (reply["content"], reply["stop_reason"], reply["stop_sequence"]) == (content, stop_reason, stop_sequence)


@pytest.mark.parametrize("err, status, error_type", [
    (BadRequest("x"), 400, "invalid_request_error"), (AuthRejected(), 401, "authentication_error"),
    (PaymentRequired(), 402, "billing_error"), (PayloadTooLarge(), 413, "request_too_large"),
    (RateLimited(), 429, "rate_limit_error"), (Overloaded(), 529, "overloaded_error"),
    (BusyForFreeUsers(), 429, "rate_limit_error"),
    (UpstreamUnavailable(), 502, "api_error"), (UpstreamTimeout(), 504, "timeout_error"),
    (KimiError(), 500, "api_error")])
def test_error_bodies_and_statuses(err, status, error_type):
    assert fmt.error_status(err) == status
    assert fmt.error_body(err) == {"type": "error", "error": {"type": error_type, "message": err.message}}


def test_model_list_in_anthropic_shape():
    specs = [ModelSpec(id="a", scenario="S", description="Model A"), ModelSpec(id="b", scenario="S")]
    assert fmt.model_list(specs, 1767225600) == {
        "data": [{"type": "model", "id": "a", "display_name": "Model A", "created_at": "2026-01-01T00:00:00Z",
                  "lifecycle": "active"},
                 {"type": "model", "id": "b", "display_name": "b", "created_at": "2026-01-01T00:00:00Z",
                  "lifecycle": "active"}],
        "has_more": False, "first_id": "a", "last_id": "b"}


def test_stream_renders_tool_use_blocks_between_text_blocks():
    pairs = stream([TextDelta("Listing."), ToolCall("call_ab12", "Bash", '{"command": "ls"}'), TextDelta("Then?"),
                    Finished("tool_calls")])
    assert outline(pairs) == [
        ("message_start",), ("content_block_start", 0, "text"), ("ping",),
        ("content_block_delta", 0, "text_delta", "Listing."), ("content_block_stop", 0),
        ("content_block_start", 1, "tool_use"), ("content_block_delta", 1, "input_json_delta", None),
        ("content_block_stop", 1), ("content_block_start", 2, "text"),
        ("content_block_delta", 2, "text_delta", "Then?"), ("content_block_stop", 2),
        ("message_delta", "tool_use", None), ("message_stop",)]
    assert pairs[5][1]["content_block"] == {"type": "tool_use", "id": "toolu_ab12", "name": "Bash", "input": {}}
    assert pairs[6][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"command": "ls"}'}


def test_whole_message_has_tool_use_blocks_after_the_text():
    events = FakeEvents([TextDelta("Listing."), ToolCall("call_ab12", "Bash", '{"command": "ls"}'),
                         Finished("tool_calls")])
    reply = fmt.whole_message(events, ChatRequest(model="m", messages=[]))
    assert reply["content"] == [{"type": "text", "text": "Listing."},
                                {"type": "tool_use", "id": "toolu_ab12", "name": "Bash", "input": {"command": "ls"}}]
    assert reply["stop_reason"] == "tool_use"


def test_sources_follow_the_text_in_stream_and_whole_message():
    sources = Citations((Source("1", "https://a.example/x", "Alpha"),))
    rows = outline(stream([sources, TextDelta("Answer[^1^]."), Finished()]))
    assert "".join(r[3] for r in rows if r[0] == "content_block_delta") == \
        "Answer[^1^].\n\nSources:\n[1] Alpha — https://a.example/x"
    reply = fmt.whole_message(FakeEvents([sources, TextDelta("Answer.")]), ChatRequest(model="m", messages=[]))
    assert reply["content"] == [{"type": "text", "text": "Answer.\n\nSources:\n[1] Alpha — https://a.example/x"}]


def test_a_crash_while_streaming_is_logged_once_and_ends_with_an_api_error(caplog):
    events = FakeEvents([TextDelta("par")], fail_with=RuntimeError("boom"))
    out = b"".join(fmt.stream_message(events, ChatRequest(model="m", messages=[], stream=True)))
    assert out.endswith(b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"'
                        + STREAM_FAILURE.message.encode() + b'"}}\n\n')
    assert [(r.levelname, r.exc_info[1].args) for r in caplog.records] == [("ERROR", ("boom",))]
    assert events.closed
