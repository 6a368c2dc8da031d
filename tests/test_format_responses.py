"""Pure tests of blueprints/formats/responses*.py: Responses API parsing and rendering."""
import orjson
import pytest

from blueprints.formats import responses as fmt
from blueprints.formats.common import STREAM_FAILURE
from kimi.errors import BadRequest, RateLimited
from kimi.events import Attachment, Finished, Message, TextDelta, ThinkingDelta, Tool, ToolCall
from tests.test_format_openai import FakeEvents

FUNCTION = {"type": "function", "name": "ls", "description": "List", "parameters": {"type": "object"}}


def ignore(response):
    """A stream's `keep` for tests about its bytes."""


def parse(**fields):
    return fmt.parse_request({"model": "m", "input": "hi", **fields})


def events_of(raw: bytes):
    """(name, data) per SSE frame, checking `event:` names match each payload's type."""
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""
    pairs = []
    for frame in frames[:-1]:
        name, data = frame.split("\n")
        pairs.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
        assert pairs[-1][0] == pairs[-1][1]["type"]
    return pairs


def test_parse_reads_instructions_input_items_options_and_previous_response():
    parsed = parse(instructions="Be terse.", previous_response_id="resp_chat-9", max_output_tokens=50,
                   reasoning={"effort": "minimal"}, stream=True, tools=[FUNCTION], tool_choice="required", input=[
                       {"role": "user", "content": [{"type": "input_text", "text": "See"},
                                                    {"type": "input_image", "image_url": "https://x/a.png"}]},
                       {"type": "reasoning", "id": "rs_1", "summary": []},
                       {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Ok."}]},
                       {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
                       {"type": "function_call_output", "call_id": "c1", "output": "a.txt"}])
    chat = parsed.chat
    assert chat.messages == [Message("system", "Be terse."), Message("user", "See", (Attachment("https://x/a.png"),)),
                             Message("assistant", "Ok.", tool_calls=(ToolCall("c1", "ls", "{}"),)),
                             Message("tool", "a.txt", tool_call_id="c1", name="ls")]
    assert (chat.conversation_id, chat.max_tokens, chat.thinking, chat.stream) == ("resp_chat-9", 50, False, True)
    assert (chat.tools, chat.tool_choice) == ([Tool("ls", "List", {"type": "object"})], "required")
    assert (parsed.previous_response_id, parsed.reasoning_effort) == ("resp_chat-9", "minimal")


def test_custom_and_search_tools():
    parsed = parse(tools=[{"type": "custom", "name": "apply_patch", "description": "Patch"},
                          {"type": "web_search_preview"}, {"type": "file_search", "vector_store_ids": []}],
                   tool_choice={"type": "custom", "name": "apply_patch"})
    assert parsed.chat.tools == [Tool("apply_patch", "Patch", {"type": "object", "properties": {
        "input": {"type": "string"}}, "required": ["input"]})]
    assert (parsed.chat.search, parsed.chat.tool_choice, parsed.custom_tools) == (True, "apply_patch",
                                                                                 frozenset({"apply_patch"}))


def test_content_parts_give_text_and_attachments_and_leave_out_what_kimi_cannot_read():
    parsed = parse(input=[
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hi."},
                                          {"type": "refusal", "refusal": "No."}]},
        {"role": "user", "content": [
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
            {"type": "input_file", "file_id": "file-1"}, {"type": "input_audio"},
            {"type": "input_text", "text": "Read it."}]}])
    assert parsed.chat.messages == [
        Message("assistant", "Hi.\nNo."),
        Message("user", "Read it.", (Attachment("data:application/pdf;base64,JVBE", "file", "a.pdf"),))]


@pytest.mark.parametrize("fields, param", [
    ({"input": None}, "input"), ({"input": []}, "input"), ({"input": [5]}, "input[0]"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"text": "x"}]}]}, "input[0].content[0]"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": [{"type": "refusal"}]}]},
     "input[0].output[0].text"),
    ({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}, "input[0].name"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input"),
    ({"tools": [{"type": "function"}]}, "tools[0].name"),
    ({"tools": [FUNCTION], "tool_choice": {"type": "function", "name": "rm"}}, "tool_choice"),
    ({"reasoning": {"effort": 3}}, "reasoning.effort"),
    ({"max_output_tokens": True}, "max_output_tokens"),
    ({"model": ""}, "model"),
])
def test_malformed_bodies_are_bad_requests_naming_the_field(fields, param):
    with pytest.raises(BadRequest) as caught:
        parse(**fields)
    assert caught.value.param == param


def test_whole_response_lists_reasoning_message_and_calls_in_order():
    parsed = parse(tools=[FUNCTION])
    events = FakeEvents([ThinkingDelta("hm"), TextDelta("Listing."), ToolCall("call_ab", "ls", "{}"),
                         Finished("tool_calls")])
    body = fmt.whole_response(events, parsed, "resp_1")
    assert (body["id"], body["object"], body["status"], body["model"]) == ("resp_1", "response", "completed", "m")
    reasoning, message, call = body["output"]
    assert reasoning == {"id": reasoning["id"], "type": "reasoning",
                         "summary": [{"type": "summary_text", "text": "hm"}]}
    assert message["content"] == [{"type": "output_text", "text": "Listing.", "annotations": [], "logprobs": []}]
    assert call == {"id": "fc_ab", "type": "function_call", "status": "completed", "arguments": "{}",
                    "call_id": "call_ab", "name": "ls"}
    assert body["usage"]["input_tokens"] == 7 and body["usage"]["output_tokens_details"]["reasoning_tokens"] == 1
    assert body["tools"] == [{**FUNCTION, "strict": False}] and events.closed


def test_whole_response_cut_by_max_output_tokens_is_incomplete():
    body = fmt.whole_response(FakeEvents([TextDelta("Long"), Finished("length")]), parse(max_output_tokens=1), "resp_1")
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})


def test_stream_numbers_every_event_and_ends_completed():
    events = FakeEvents([TextDelta("Hi"), TextDelta(" there"), Finished("stop")])
    pairs = events_of(b"".join(fmt.stream_response(events, parse(stream=True), "resp_1", ignore)))
    assert [name for name, _ in pairs] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [data["sequence_number"] for _, data in pairs] == list(range(10))
    delta = pairs[5][1]
    assert delta == {"type": "response.output_text.delta", "sequence_number": 5, "item_id": pairs[2][1]["item"]["id"],
                     "output_index": 0, "content_index": 0, "delta": " there", "logprobs": []}
    assert pairs[-1][1]["response"]["output"][0]["content"][0]["text"] == "Hi there"


def test_stream_writes_once_per_upstream_read():
    events = FakeEvents(reads=[[TextDelta("a"), TextDelta("b")], [TextDelta("c"), Finished("stop")]])
    writes = list(fmt.stream_response(events, parse(stream=True), "resp_1", ignore))
    assert [[name for name, _ in events_of(write)][-1] for write in writes] == [
        "response.output_text.delta", "response.completed"]


@pytest.mark.parametrize("error, code", [(RateLimited("Kimi is busy"), "rate_limit_exceeded"),
                                         (RuntimeError("boom"), "server_error")])
def test_failures_after_the_start_end_the_stream_with_response_failed(error, code, caplog):
    events, kept = FakeEvents([TextDelta("par")], fail_with=error), []
    name, data = events_of(b"".join(fmt.stream_response(events, parse(stream=True), "resp_1", kept.append)))[-1]
    message = STREAM_FAILURE.message if isinstance(error, RuntimeError) else "Kimi is busy"
    assert name == "response.failed" and data["response"]["error"] == {"code": code, "message": message}
    assert data["response"]["status"] == "failed" and events.closed
    assert len(caplog.records) == (1 if isinstance(error, RuntimeError) else 0)
    # The text streamed before the failure stays in the failed response's output, and is kept.
    assert [(item["type"], item["status"], item["content"][0]["text"]) for item in data["response"]["output"]] == [
        ("message", "incomplete", "par")]
    assert kept[-1] == data["response"]
