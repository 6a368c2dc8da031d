"""Pure tests of blueprints/formats/anthropic_request.py: tools, tool_choice, documents, search."""
import pytest

from blueprints.formats.anthropic_request import parse_request
from kimi.errors import BadRequest
from kimi.events import Attachment, Message, Tool

SCHEMA = {"type": "object", "properties": {"command": {"type": "string"}}}
TOOLS = [{"name": "Bash", "description": "Run a command", "input_schema": SCHEMA},
         {"type": "custom", "name": "Read", "input_schema": {"type": "object"}},
         {"type": "bash_20250124", "name": "bash"}]


def body(**fields):
    return {"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_custom_tools_are_offered_and_anthropic_defined_tools_left_out():
    chat = parse_request(body(tools=TOOLS))
    assert chat.tools == [Tool("Bash", "Run a command", SCHEMA), Tool("Read", "", {"type": "object"})]
    assert (chat.tool_choice, chat.search) == ("auto", None)


@pytest.mark.parametrize("choice, names, expected", [
    (None, ["Bash", "Read"], "auto"),
    ({"type": "auto", "disable_parallel_tool_use": True}, ["Bash", "Read"], "auto"),
    ({"type": "any"}, ["Bash", "Read"], "required"),
    ({"type": "tool", "name": "Read"}, ["Bash", "Read"], "Read"),
    ({"type": "none"}, [], "none"),
])
def test_tool_choice(choice, names, expected):
    chat = parse_request(body(tools=TOOLS, tool_choice=choice))
    assert ([tool.name for tool in chat.tools], chat.tool_choice) == (names, expected)


def test_web_search_server_tool_turns_search_on_and_is_not_a_function():
    chat = parse_request(body(tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]))
    assert (chat.search, chat.tools) == (True, [])


def test_documents_become_file_attachments_or_text():
    chat = parse_request(body(messages=[{"role": "user", "content": [
        {"type": "document", "title": "spec.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "text", "text": "Summarise."}]}]))
    assert chat.messages == [Message("user", "plain words\n[image omitted]\nSummarise.",
                                     (Attachment("data:application/pdf;base64,JVBE", "file", "spec.pdf"),))]


@pytest.mark.parametrize("fields, param", [
    ({"tools": [{"description": "no name"}]}, "tools[0].name"),
    ({"tools": [{"name": "a", "input_schema": "object"}]}, "tools[0].input_schema"),
    ({"tools": TOOLS, "tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
    ({"tools": TOOLS, "tool_choice": "auto"}, "tool_choice.type"),
    ({"tools": TOOLS, "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"tools": TOOLS, "tool_choice": {"type": "tool", "name": "Write"}}, "tool_choice.name"),
    ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "input": {}}]}]},
     "messages[0].content[0].name"),
    ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "a", "input": [1]}]}]},
     "messages[0].content[0].input"),
])
def test_malformed_tool_fields_are_bad_requests_naming_the_field(fields, param):
    with pytest.raises(BadRequest) as caught:
        parse_request(body(**fields))
    assert caught.value.param == param


def test_system_messages_between_turns_join_the_system_prompt():
    environment = {"role": "system", "content": [{"type": "text", "text": "Env"}]}
    chat = parse_request(body(system="Sys", messages=[{"role": "user", "content": "hi"}, environment]))
    assert chat.messages == [Message("system", "Sys"), Message("user", "hi"), Message("system", "Env")]
