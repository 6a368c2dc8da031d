"""Pure tests of blueprints/formats/gemini_request.py: function declarations, toolConfig, search."""
import pytest

from blueprints.formats.gemini_request import parse_request
from kimi.errors import BadRequest
from kimi.events import Message, Tool, ToolCall

USER = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
SCHEMA = {"type": "OBJECT", "properties": {"path": {"type": "STRING"}}}
DECLARATIONS = [{"functionDeclarations": [
    {"name": "read_file", "description": "Read", "parameters": SCHEMA},
    {"name": "list_dir", "parametersJsonSchema": {"type": "object"}}]}]


def chat(**fields):
    return parse_request({**USER, **fields}, "gemini-2.5-pro").chat


def test_function_declarations_are_offered_with_either_schema_field():
    parsed = chat(tools=DECLARATIONS)
    assert parsed.tools == [Tool("read_file", "Read", SCHEMA), Tool("list_dir", "", {"type": "object"})]
    assert (parsed.tool_choice, parsed.search) == ("auto", None)


@pytest.mark.parametrize("config, names, choice", [
    ({"mode": "AUTO"}, ["read_file", "list_dir"], "auto"),
    ({"mode": "ANY"}, ["read_file", "list_dir"], "required"),
    ({"mode": "ANY", "allowedFunctionNames": ["list_dir"]}, ["list_dir"], "list_dir"),
    ({"mode": "any", "allowed_function_names": ["list_dir", "read_file"]}, ["read_file", "list_dir"], "required"),
    ({"mode": "NONE"}, [], "none"),
    ({"mode": "VALIDATED"}, ["read_file", "list_dir"], "auto"),
])
def test_function_calling_config_decides_tools_and_choice(config, names, choice):
    parsed = chat(tools=DECLARATIONS, toolConfig={"functionCallingConfig": config})
    assert ([tool.name for tool in parsed.tools], parsed.tool_choice) == (names, choice)


@pytest.mark.parametrize("tool", [{"googleSearch": {}}, {"google_search": {}}, {"googleSearchRetrieval": {}}])
def test_google_search_tools_turn_search_on(tool):
    parsed = chat(tools=[tool])
    assert (parsed.search, parsed.tools) == (True, [])


def test_model_function_calls_join_the_model_turn():
    parsed = chat(contents=[{"role": "user", "parts": [{"text": "ls"}]},
                            {"role": "model", "parts": [{"text": "Listing."},
                                                        {"functionCall": {"name": "list_dir", "args": {}}}]}])
    assert parsed.messages == [Message("user", "ls"),
                               Message("assistant", "Listing.", tool_calls=(ToolCall("", "list_dir", "{}"),))]


@pytest.mark.parametrize("fields, param", [
    ({"tools": [3]}, "tools[0]"),
    ({"tools": [{"functionDeclarations": {}}]}, "tools[0].functionDeclarations"),
    ({"tools": [{"functionDeclarations": [{"description": "x"}]}]}, "tools[0].functionDeclarations[0].name"),
    ({"tools": [{"functionDeclarations": [{"name": "a", "parameters": "x"}]}]},
     "tools[0].functionDeclarations[0].parameters"),
    ({"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}, "toolConfig.functionCallingConfig.mode"),
    ({"tools": DECLARATIONS, "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["x"]}}},
     "toolConfig.functionCallingConfig.allowedFunctionNames"),
])
def test_malformed_tool_fields_are_bad_requests_naming_the_field(fields, param):
    with pytest.raises(BadRequest) as caught:
        chat(**fields)
    assert caught.value.param == param
