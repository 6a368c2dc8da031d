"""Pure tests of blueprints/formats/openai_request.py: tools, tool traffic, images, stop, search switch."""
import pytest

from blueprints.formats.openai_request import parse_request
from kimi.errors import BadRequest
from kimi.events import Attachment, Message, Tool, ToolCall

USER = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "search", "description": "Find", "parameters": SCHEMA}},
         {"type": "function", "function": {"name": "clock"}},
         {"type": "custom", "custom": {"name": "grammar_tool"}}]


def body(**fields):
    return {"model": "m", "messages": USER, **fields}


def test_function_tools_are_offered_and_other_tool_types_left_out():
    chat = parse_request(body(tools=TOOLS))
    assert (chat.tools, chat.tool_choice) == ([Tool("search", "Find", SCHEMA), Tool("clock")], "auto")


def test_legacy_functions_and_function_call_are_read_like_tools():
    chat = parse_request(body(functions=[{"name": "clock"}], function_call={"name": "clock"}))
    assert (chat.tools, chat.tool_choice) == ([Tool("clock")], "clock")


@pytest.mark.parametrize("choice, tools, expected", [
    ("auto", ["search", "clock"], "auto"),
    ("required", ["search", "clock"], "required"),
    ({"type": "function", "function": {"name": "clock"}}, ["search", "clock"], "clock"),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": []}}, ["search", "clock"], "required"),
    ("none", [], "none"),  # no tools are offered, so no call can be recognised
])
def test_tool_choice(choice, tools, expected):
    chat = parse_request(body(tools=TOOLS, tool_choice=choice))
    assert ([tool.name for tool in chat.tools], chat.tool_choice) == (tools, expected)


def test_history_carries_tool_calls_and_results_with_the_tool_name():
    chat = parse_request(body(messages=USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "found"}]},
        {"role": "assistant", "function_call": {"name": "clock", "arguments": "{}"}},
        {"role": "function", "name": "clock", "content": "noon"}]))
    assert chat.messages[1:] == [
        Message("assistant", "", tool_calls=(ToolCall("call_1", "search", '{"q": "x"}'),)),
        Message("tool", "found", tool_call_id="call_1", name="search"),
        Message("assistant", "", tool_calls=(ToolCall("", "clock", "{}"),)),
        Message("tool", "noon", name="clock")]


def test_image_and_file_parts_become_attachments():
    chat = parse_request(body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        {"type": "file", "file_url": {"url": "https://example.com/b.png"}},
        {"type": "file", "file": {"file_id": "file-1"}}]}]))
    assert chat.messages == [Message("user", "What is this?", (
        Attachment("https://example.com/cat.png"), Attachment("data:image/jpeg;base64,/9j/"),
        Attachment("data:application/pdf;base64,JVBE", "file", "a.pdf"), Attachment("https://example.com/b.png")))]


@pytest.mark.parametrize("options, search", [({"web_search_options": {}}, True), ({}, None)])
def test_web_search_options_turn_search_on(options, search):
    assert parse_request(body(**options)).search is search


@pytest.mark.parametrize("fields, param", [
    ({"tools": {}}, "tools"),
    ({"tools": [5]}, "tools[0]"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "a", "parameters": []}}]}, "tools[0].function.parameters"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "missing"}}}, "tool_choice"),
    ({"web_search_options": True}, "web_search_options"),
    ({"messages": [{"role": "assistant", "tool_calls": {}}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]},
     "messages[0].tool_calls[0].function.name"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "a", "arguments": 5}}]}]},
     "messages[0].tool_calls[0].function.arguments"),
    ({"messages": [{"role": "tool", "tool_call_id": 1, "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].image_url.url"),
])
def test_malformed_tool_fields_are_bad_requests_naming_the_field(fields, param):
    with pytest.raises(BadRequest) as caught:
        parse_request(body(**fields))
    assert caught.value.param == param


@pytest.mark.parametrize("stop, stops", [
    ("END", ["END"]), (["END", "\n\n"], ["END", "\n\n"]), (None, []), ([], []),
    (["", "END"], ["", "END"]),  # kept as sent: kimi/filters.stop_at_sequences ignores empty stops
])
def test_stop_is_a_string_or_an_array_of_strings(stop, stops):
    assert parse_request(body(stop=stop)).stop == stops


@pytest.mark.parametrize("stop", [5, True, {"seq": "END"}, ["END", 5], [None], ["a", "b", "c", "d", "e"]])
def test_stop_of_another_type_or_more_than_four_is_a_bad_request(stop):
    with pytest.raises(BadRequest) as caught:
        parse_request(body(stop=stop))
    assert caught.value.param == "stop"
    assert caught.value.message == "`stop` must be a string or an array of up to 4 strings."
