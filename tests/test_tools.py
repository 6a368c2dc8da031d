"""The emulated function-calling protocol: prompt text and the streaming recogniser."""
import json

import pytest

from kimi.events import Finished, Message, TextDelta, Tool, ToolCall
from kimi.tools import ToolCallRecognizer, describe_tools, recognize_tool_calls, render_message_text

TOOLS = [Tool("write_file", "Write a file", {"type": "object", "properties": {"path": {"type": "string"}}}),
         Tool("read_file", "Read a file", None)]

ANSWER = ('Sure, writing it now. <tool_call>{"name": "write_file", "arguments": {"path": "a.txt"}}</tool_call>'
          '<tool_call>{"name": "read_file", "arguments": {}}</tool_call>')


def run(pieces, tools=TOOLS, choice="auto"):
    recognizer = ToolCallRecognizer(tools, choice)
    out = []
    for piece in pieces:
        out.extend(recognizer.feed(piece))
    out.append(recognizer.finish())
    text = "".join(p for p in out if isinstance(p, str))
    calls = [(c.name, json.loads(c.arguments)) for c in out if isinstance(c, ToolCall)]
    return text, calls


def test_text_then_two_calls_whole():
    assert run([ANSWER]) == ("Sure, writing it now. ", [("write_file", {"path": "a.txt"}), ("read_file", {})])


@pytest.mark.parametrize("cut", range(1, len(ANSWER)))
def test_same_result_wherever_the_stream_is_split(cut):
    assert run([ANSWER[:cut], ANSWER[cut:]]) == run([ANSWER])


def test_one_character_at_a_time():
    assert run(list(ANSWER)) == run([ANSWER])


def test_only_a_possible_tag_start_is_held_back():
    recognizer = ToolCallRecognizer(TOOLS)
    assert recognizer.feed("a < b and <tool") == ["a < b and "]
    assert recognizer.feed("box>") == ["<toolbox>"]


@pytest.mark.parametrize("element", [
    '<tool_call>{"name": "write_file", "arguments": {oops}</tool_call>',  # not JSON
    '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>',  # not offered
    '<tool_call>{"name": "write_file", "arguments": "path=a"}</tool_call>',  # arguments not an object
])
def test_malformed_calls_come_back_as_text(element):
    assert run(["before ", element]) == ("before " + element, [])


def test_unclosed_element_comes_back_as_text_at_the_end():
    assert run(['x <tool_call>{"name": "read_file"']) == ('x <tool_call>{"name": "read_file"', [])


def test_named_tool_choice_accepts_only_that_tool():
    assert run([ANSWER], choice="read_file")[1] == [("read_file", {})]


def test_stream_filter_turns_elements_into_calls_and_finishes_with_tool_calls():
    events = list(recognize_tool_calls([TextDelta(ANSWER[:40]), TextDelta(ANSWER[40:]), Finished("stop")], TOOLS))
    assert [type(e).__name__ for e in events] == ["TextDelta", "ToolCall", "ToolCall", "Finished"]
    assert events[-1] == Finished("tool_calls")
    assert events[1].call_id.startswith("call_") and events[1].call_id != events[2].call_id


def test_stream_without_calls_finishes_as_it_did():
    events = list(recognize_tool_calls([TextDelta("plain"), Finished("stop")], TOOLS))
    assert events == [TextDelta("plain"), Finished("stop")]


def test_prompt_lists_each_tool_with_its_schema_and_the_call_syntax():
    text = describe_tools(TOOLS, "required")
    assert '<tool_call>{"name": "<tool name>", "arguments": {...}}</tool_call>' in text
    assert '- write_file: Write a file\n  parameters: {"type": "object", "properties": {"path": {"type": "string"}}}' in text
    assert "You must call at least one tool" in text
    assert "You must call the tool `read_file`" in describe_tools(TOOLS, "read_file")


def test_history_spells_out_calls_and_results():
    call = ToolCall("call_1", "write_file", '{"path": "a.txt"}')
    assert render_message_text(Message("assistant", "Writing.", tool_calls=(call,))) == \
        'Writing.\n<tool_call>{"name": "write_file", "arguments": {"path": "a.txt"}}</tool_call>'
    assert render_message_text(Message("tool", "done", tool_call_id="call_1", name="write_file")) == \
        "[write_file (call call_1)] done"
