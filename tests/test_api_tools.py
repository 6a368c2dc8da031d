"""Emulated function calling end to end: Kimi (the fake) answers with `<tool_call>` elements and each
official SDK parses real tool calls; tool results sent back reach Kimi folded into the prompt."""
import json

import pytest
from google.genai import types

from tests.support.scripted_answers import answer

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                                  "parameters": WEATHER_SCHEMA}},
                {"type": "function", "function": {"name": "get_time", "description": "Local time",
                                                  "parameters": WEATHER_SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Current weather", "input_schema": WEATHER_SCHEMA}]
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Jakarta"}}</tool_call>'
SECOND_CALL = '<tool_call>{"name": "get_time", "arguments": {"city": "Bandung"}}</tool_call>'
USER = [{"role": "user", "content": "Weather in Jakarta?"}]
TOOLS_LISTING = ('Available tools:\n- get_weather: Current weather\n  parameters: {"type": "object", '
                 '"properties": {"city": {"type": "string"}}, "required": ["city"]}')


def sent_prompt(kimi):
    return kimi.requests[-1].body["message"]["blocks"][0]["text"]["content"]


def test_openai_create_returns_text_then_tool_call(kimi, openai_client):
    kimi.frames(answer("Let me check. " + CALL))
    reply = openai_client.chat.completions.create(model="kimi-latest", messages=USER, tools=OPENAI_TOOLS)
    choice = reply.choices[0]
    call = choice.message.tool_calls[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", "Let me check. ")
    assert (call.type, call.function.name, json.loads(call.function.arguments)) == (
        "function", "get_weather", {"city": "Jakarta"})
    assert call.id.startswith("call_") and len(choice.message.tool_calls) == 1
    assert TOOLS_LISTING in sent_prompt(kimi)


def test_openai_stream_accumulates_parallel_calls(kimi, openai_client):
    kimi.frames(answer(CALL + "\n" + SECOND_CALL, piece=5))
    with openai_client.chat.completions.stream(model="kimi-latest", messages=USER, tools=OPENAI_TOOLS) as stream:
        done = [event for event in stream if event.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == [
        ("get_weather", {"city": "Jakarta"}), ("get_time", {"city": "Bandung"})]
    assert message.tool_calls[0].id != message.tool_calls[1].id
    assert [event.name for event in done] == ["get_weather", "get_time"]
    assert final.choices[0].finish_reason == "tool_calls" and message.content == "\n"


def test_openai_content_is_null_when_only_a_call_was_made(kimi, openai_client):
    kimi.frames(answer(CALL))
    reply = openai_client.chat.completions.create(model="kimi-latest", messages=USER, tools=OPENAI_TOOLS,
                                                  tool_choice="required")
    assert reply.choices[0].message.content is None and len(reply.choices[0].message.tool_calls) == 1
    assert "You must call at least one tool in this answer." in sent_prompt(kimi)


@pytest.mark.parametrize("element", [
    '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',  # a tool that was not offered
    '<tool_call>{"name": "get_weather", "arguments": {city}}</tool_call>',  # not JSON
])
def test_openai_malformed_call_comes_back_as_text(kimi, openai_client, element):
    kimi.frames(answer("Sure. " + element))
    reply = openai_client.chat.completions.create(model="kimi-latest", messages=USER, tools=OPENAI_TOOLS)
    assert reply.choices[0].message.content == "Sure. " + element
    assert reply.choices[0].message.tool_calls is None and reply.choices[0].finish_reason == "stop"


def test_openai_tool_choice_none_offers_no_tools_and_recognises_no_call(kimi, openai_client):
    kimi.frames(answer(CALL))
    reply = openai_client.chat.completions.create(model="kimi-latest", messages=USER, tools=OPENAI_TOOLS,
                                                  tool_choice="none")
    assert reply.choices[0].message.content == CALL and reply.choices[0].finish_reason == "stop"
    assert "[Tools]" not in sent_prompt(kimi)


def test_openai_named_tool_choice_accepts_only_that_tool(kimi, openai_client):
    kimi.frames(answer(CALL + SECOND_CALL))
    reply = openai_client.chat.completions.create(
        model="kimi-latest", messages=USER, tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert [call.function.name for call in reply.choices[0].message.tool_calls] == ["get_time"]
    assert reply.choices[0].message.content == CALL
    assert "You must call the tool `get_time` in this answer." in sent_prompt(kimi)


def test_openai_tool_result_round_trip_is_folded_into_the_prompt(kimi, openai_client):
    kimi.frames(answer("It is sunny in Jakarta."))
    reply = openai_client.chat.completions.create(model="kimi-latest", tools=OPENAI_TOOLS, messages=USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Jakarta"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'}])
    assert reply.choices[0].message.content == "It is sunny in Jakarta."
    prompt = sent_prompt(kimi)
    assert prompt.startswith("[System instructions]\n[Tools]\n") and TOOLS_LISTING in prompt
    assert prompt.endswith(
        "[Conversation so far]\nUser: Weather in Jakarta?\n\n"
        'Assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Jakarta"}}</tool_call>\n\n'
        "[Newest message from the user — answer this one]\n"
        'Tool result: [get_weather (call call_1)] {"sky": "sunny"}')


def test_anthropic_create_returns_text_and_tool_use_blocks(kimi, anthropic_client):
    kimi.frames(answer("Checking the weather. " + CALL))
    reply = anthropic_client.messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=USER,
                                             tools=ANTHROPIC_TOOLS)
    assert [block.type for block in reply.content] == ["text", "tool_use"]
    assert reply.content[0].text == "Checking the weather. " and reply.stop_reason == "tool_use"
    tool_use = reply.content[1]
    assert (tool_use.name, tool_use.input) == ("get_weather", {"city": "Jakarta"})
    assert tool_use.id.startswith("toolu_") and TOOLS_LISTING in sent_prompt(kimi)


def test_anthropic_stream_final_message_has_tool_use_blocks(kimi, anthropic_client):
    kimi.frames(answer("Two calls. " + CALL + CALL.replace("Jakarta", "Medan"), piece=4))
    with anthropic_client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024, messages=USER,
                                tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"}) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use", "tool_use"]
    assert [block.input for block in final.content[1:]] == [{"city": "Jakarta"}, {"city": "Medan"}]
    assert final.stop_reason == "tool_use" and final.content[1].id != final.content[2].id


def test_anthropic_tool_result_round_trip_is_folded_into_the_prompt(kimi, anthropic_client):
    kimi.frames(answer("Sunny."))
    anthropic_client.messages.create(model="claude-sonnet-4-6", max_tokens=100, tools=ANTHROPIC_TOOLS, messages=USER + [
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Jakarta"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
            {"type": "text", "text": "And tomorrow?"}]}])
    assert sent_prompt(kimi).endswith(
        "[Conversation so far]\nUser: Weather in Jakarta?\n\n"
        'Assistant: Checking.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Jakarta"}}</tool_call>\n\n'
        "[Newest message from the user — answer this one]\n"
        "Tool result: [get_weather (call toolu_1)] sunny\n\nAnd tomorrow?")


def test_gemini_function_calls_are_parsed_by_the_sdk(kimi, gemini_client):
    kimi.frames(answer(CALL))
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Current weather", parameters_json_schema=WEATHER_SCHEMA)])])
    reply = gemini_client.models.generate_content(model="gemini-2.5-flash", contents="Weather in Jakarta?",
                                                  config=config)
    call = reply.function_calls[0]
    assert (call.name, call.args) == ("get_weather", {"city": "Jakarta"}) and call.id.startswith("call_")
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    assert TOOLS_LISTING in sent_prompt(kimi)


def test_gemini_stream_delivers_the_call_in_its_own_chunk(kimi, gemini_client):
    kimi.frames(answer("On it. " + CALL))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather")])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode="ANY", allowed_function_names=["get_weather"])))
    chunks = list(gemini_client.models.generate_content_stream(model="gemini-2.5-flash", contents="Weather?",
                                                               config=config))
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(call.name, call.args) for call in calls] == [("get_weather", {"city": "Jakarta"})]
    assert "".join(chunk.text or "" for chunk in chunks) == "On it. "
    assert "You must call the tool `get_weather` in this answer." in sent_prompt(kimi)


def test_gemini_function_response_round_trip_is_folded_into_the_prompt(kimi, gemini_client):
    kimi.frames(answer("Sunny."))
    contents = [types.Content(role="user", parts=[types.Part(text="Weather in Jakarta?")]),
                types.Content(role="model", parts=[types.Part.from_function_call(name="get_weather",
                                                                                 args={"city": "Jakarta"})]),
                types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather",
                                                                                    response={"sky": "sunny"})])]
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather")])])
    reply = gemini_client.models.generate_content(model="gemini-2.5-flash", contents=contents, config=config)
    assert reply.text == "Sunny."
    assert sent_prompt(kimi).endswith(
        'Assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Jakarta"}}</tool_call>\n\n'
        "[Newest message from the user — answer this one]\n"
        'Tool result: [get_weather] {"sky":"sunny"}')
