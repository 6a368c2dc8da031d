"""The OpenAI Responses API (POST /v1/responses) end to end, judged by the openai SDK's own parsers."""
import json
import re

import orjson
import requests

from tests.support.fixture_streams import ANSWER_TEXT, PLAIN_CHAT_ID, PLAIN_TEXT, THINK_TEXT
from tests.support.scripted_answers import answer

TOOLS = [{"type": "function", "name": "write_file", "description": "Write a file",
          "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}}}]
CALL = '<tool_call>{"name": "write_file", "arguments": {"path": "a.txt", "text": "hi"}}</tool_call>'


def sent_prompt(kimi):
    return kimi.requests[-1].body["message"]["blocks"][0]["text"]["content"]


def test_create_returns_output_text_usage_and_an_id_of_its_own(kimi, openai_client):
    kimi.replay("plain_text.jsonl")
    raw = openai_client.responses.with_raw_response.create(model="kimi-k2.5-instant", input="Focus tip?")
    response = raw.parse()
    assert (response.object, response.status, response.model) == ("response", "completed", "kimi-k2.5-instant")
    assert re.fullmatch(r"resp_[0-9a-f]{32}", response.id) and raw.headers["X-Conversation-Id"] == PLAIN_CHAT_ID
    assert response.output_text == PLAIN_TEXT
    assert [(item.type, item.role, item.status) for item in response.output] == [("message", "assistant", "completed")]
    usage = response.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_stream_event_sequence_is_what_the_sdk_parses(kimi, openai_client):
    kimi.replay("plain_text.jsonl")
    events = list(openai_client.responses.create(model="kimi-latest", input="Focus tip?", stream=True))
    names = [event.type for event in events]
    deltas = names.count("response.output_text.delta")
    assert deltas == 10 and names == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"] + \
        ["response.output_text.delta"] * deltas + [
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert "".join(event.delta for event in events if event.type == "response.output_text.delta") == PLAIN_TEXT
    assert events[-1].response.output_text == PLAIN_TEXT and events[-1].response.usage.output_tokens > 0
    assert len({event.response.id for event in (events[0], events[-1])}) == 1


def test_reasoning_effort_turns_thinking_on_and_returns_a_reasoning_item(kimi, openai_client):
    kimi.replay("thinking.jsonl")
    with openai_client.responses.stream(model="kimi-latest", input="Is 221 prime?",
                                        reasoning={"effort": "high"}) as stream:
        summary = "".join(e.delta for e in stream if e.type == "response.reasoning_summary_text.delta")
        final = stream.get_final_response()
    assert summary == THINK_TEXT and [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == THINK_TEXT and final.output_text == ANSWER_TEXT
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    assert kimi.requests[-1].body["options"] == {"thinking": True}


def test_stream_helper_returns_function_calls(kimi, openai_client):
    kimi.frames(answer("Writing it. " + CALL))
    with openai_client.responses.stream(model="kimi-latest", input="Make a.txt", tools=TOOLS) as stream:
        arguments = "".join(e.delta for e in stream if e.type == "response.function_call_arguments.delta")
        final = stream.get_final_response()
    call = final.output[1]
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert (call.name, json.loads(call.arguments), call.status) == ("write_file", {"path": "a.txt", "text": "hi"},
                                                                    "completed")
    assert call.call_id.startswith("call_") and call.id.startswith("fc_") and arguments == call.arguments
    assert final.output_text == "Writing it. "


def test_function_call_output_round_trip_is_folded_into_the_prompt(kimi, openai_client):
    kimi.frames(answer("Done: a.txt holds hi."))
    response = openai_client.responses.create(
        model="kimi-latest", instructions="You are a coding agent.", tools=TOOLS, input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Make a.txt"}]},
            {"type": "function_call", "call_id": "call_7", "name": "write_file",
             "arguments": '{"path": "a.txt", "text": "hi"}'},
            {"type": "function_call_output", "call_id": "call_7", "output": "ok"}])
    assert response.output_text == "Done: a.txt holds hi."
    prompt = sent_prompt(kimi)
    assert prompt.startswith("[System instructions]\nYou are a coding agent.\n\n[Tools]\n")
    assert prompt.endswith(
        "[Conversation so far]\nUser: Make a.txt\n\n"
        'Assistant: <tool_call>{"name": "write_file", "arguments": {"path": "a.txt", "text": "hi"}}</tool_call>\n\n'
        "[Newest message from the user — answer this one]\nTool result: [write_file (call call_7)] ok")


def test_previous_response_id_continues_the_kimi_chat_with_only_the_new_input(kimi, openai_client):
    raw = openai_client.responses.with_raw_response.create(model="kimi-latest", input="My name is Sari.")
    first, chat_id = raw.parse(), raw.headers["X-Conversation-Id"]
    second = openai_client.responses.create(model="kimi-latest", input="What is my name?",
                                            previous_response_id=first.id)
    sent = kimi.requests[-1].body
    assert sent["chat_id"] == chat_id and sent["message"]["blocks"][0]["text"]["content"] == "What is my name?"
    assert second.id != first.id and second.previous_response_id == first.id
    assert [turn["user_text"] for turn in kimi.chats[chat_id]] == ["My name is Sari.", "What is my name?"]


def test_custom_tools_come_back_as_custom_tool_calls(kimi, openai_client):
    patch = "*** Begin Patch\n*** End Patch"
    element = '<tool_call>{"name": "apply_patch", "arguments": {"input": %s}}</tool_call>' % json.dumps(patch)
    kimi.frames(answer(element))
    response = openai_client.responses.create(model="kimi-latest", input="Patch it", tools=[
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: 'x'"}}])
    item = response.output[0]
    assert (item.type, item.name, item.input) == ("custom_tool_call", "apply_patch", patch)
    assert "grammar:\nstart: 'x'" in sent_prompt(kimi)


def test_wire_format_names_each_event_and_fails_in_stream(kimi, gateway, user_token):
    kimi.replay("error_after_done.jsonl")
    response = requests.post(gateway.url + "/v1/responses", timeout=10, data=orjson.dumps(
        {"model": "kimi-latest", "input": "x", "stream": True}),
        headers={"Authorization": f"Bearer {user_token}", "Content-Type": "application/json"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    frames = response.content.decode().split("\n\n")
    assert frames[-1] == ""
    pairs = [frame.split("\n") for frame in frames[:-1]]
    assert all(name.startswith("event: ") and data.startswith("data: ") for name, data in pairs)
    events = [(name[7:], orjson.loads(data[6:])) for name, data in pairs]
    assert all(name == data["type"] for name, data in events)
    failed = events[-1][1]
    assert failed["type"] == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "Kimi: Please sign in to keep chatting."}


def test_errors_before_the_stream_are_openai_errors(kimi, gateway, user_token):
    response = requests.post(gateway.url + "/v1/responses", timeout=10, json={"model": "kimi-latest"},
                             headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 400
    assert response.json() == {"error": {"message": "`input` must be a non-empty string or array of items.",
                                         "type": "invalid_request_error", "param": "input", "code": None}}
    assert kimi.requests == []
