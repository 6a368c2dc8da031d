"""OpenAI Chat Completions, request side: a /v1/chat/completions body -> ChatRequest, with tools,
tool traffic in the history, images, stop sequences and the web-search switch. Pure: no Flask, no requests.
"""
from __future__ import annotations

from typing import Any, Optional, Union

from blueprints.formats.common import (CHOICES, arguments_text, choose_tools, inline_attachment,
                                       message_role, optional_count, optional_field, optional_text,
                                       parse_content_parts, part_text, required_name)
from kimi.errors import BadRequest
from kimi.events import Attachment, ChatRequest, Message, Tool, ToolCall

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_STOPS = 4  # OpenAI's own limit on `stop` sequences


def parse_request(body: Any) -> ChatRequest:
    """A ChatRequest from a /v1/chat/completions body, or BadRequest naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty array.", param="messages")
    stream_options = optional_field(body, "stream_options", dict) or {}
    tools, tool_choice = _parse_tools(body)
    return ChatRequest(
        model=model,
        messages=parse_messages(messages),
        stream=bool(optional_field(body, "stream", bool)),
        conversation_id=optional_field(body, "conversation_id", str) or None,
        thinking=parse_reasoning_effort(optional_field(body, "reasoning_effort", str)),
        reasoning_effort=effort_level(optional_field(body, "reasoning_effort", str)),
        # Any web_search_options object asks for a searched answer; Kimi has no finer knobs.
        search=True if optional_field(body, "web_search_options", dict) is not None else None,
        include_usage=bool(stream_options.get("include_usage")),
        max_tokens=_parse_max_tokens(body),
        stop=_parse_stop(body.get("stop")),
        tools=tools,
        tool_choice=tool_choice,
    )


def _parse_max_tokens(body: dict) -> Optional[int]:
    """The output cap (`max_completion_tokens`, else the older `max_tokens`), each at least 1; `n`
    is checked the same way (every answer is one choice: Kimi writes one answer per turn)."""
    optional_count(body, "n")
    return optional_count(body, "max_completion_tokens") or optional_count(body, "max_tokens")


def parse_messages(messages: list) -> list[Message]:
    names: dict[str, str] = {}  # call id -> tool name, so a result can say which tool it answers
    return [_parse_message(message, index, names) for index, message in enumerate(messages)]


def _parse_message(message: Any, index: int, names: dict[str, str]) -> Message:
    param = f"messages[{index}]"
    role = message_role(message, param, ROLES)
    text, attachments = parse_content(message.get("content"), f"{param}.content")
    if role == "assistant":
        calls = _parse_tool_calls(message, param)
        names.update((call.call_id, call.name) for call in calls)
        return Message(role, text, attachments, tool_calls=calls)
    if role == "tool":
        call_id = optional_text(message, "tool_call_id", f"{param}.tool_call_id") or ""
        return Message("tool", text, attachments, tool_call_id=call_id, name=names.get(call_id, ""))
    if role == "function":  # the legacy function-calling result
        return Message("tool", text, attachments, name=optional_text(message, "name", f"{param}.name") or "")
    return Message(role, text, attachments)


def parse_content(content: Any, param: str) -> tuple[str, tuple[Attachment, ...]]:
    """Text of a message (a string, or the text parts of a content array) and its images and files."""
    return parse_content_parts(content, param, _parse_part)


def _parse_part(part: dict, param: str) -> Union[str, Attachment, None]:
    kind = part["type"]
    if kind == "text":
        return part_text(part, "text", param)
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise BadRequest(f"`{param}.image_url.url` must be a URL or a data URI.", param=f"{param}.image_url.url")
        return Attachment(url=url, kind="image")
    if kind == "file":
        return _file_part(part)
    return None  # input_audio and refusal parts: nothing Kimi is sent


def _file_part(part: dict) -> Optional[Attachment]:
    """OpenAI's `file` part (inline `file_data`), or the reference project's `file_url.url` form."""
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    link = part.get("file_url") if isinstance(part.get("file_url"), dict) else {}
    url = file.get("file_data") or link.get("url")
    if not isinstance(url, str) or not url:
        return None  # a `file_id` names an OpenAI upload the gateway cannot read
    name = file.get("filename")
    return inline_attachment(url, name if isinstance(name, str) else "")


def _parse_tool_calls(message: dict, param: str) -> tuple[ToolCall, ...]:
    calls = message.get("tool_calls")
    if calls is None:
        legacy = message.get("function_call")  # the pre-tools shape: one call, no id
        if legacy is None:
            return ()
        name = required_name(legacy, f"{param}.function_call")
        return (ToolCall("", name, arguments_text(legacy.get("arguments"), f"{param}.function_call.arguments")),)
    if not isinstance(calls, list):
        raise BadRequest(f"`{param}.tool_calls` must be an array.", param=f"{param}.tool_calls")
    parsed = []
    for i, call in enumerate(calls):
        call_param = f"{param}.tool_calls[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        name = required_name(function, f"{call_param}.function")
        call_id = optional_text(call, "id", f"{call_param}.id") or ""
        parsed.append(ToolCall(call_id, name, arguments_text(function.get("arguments"),
                                                              f"{call_param}.function.arguments")))
    return tuple(parsed)


def _parse_tools(body: dict) -> tuple[list[Tool], str]:
    tools = []
    for i, tool in enumerate(optional_field(body, "tools", list) or []):
        if not isinstance(tool, dict):
            raise BadRequest(f"`tools[{i}]` must be an object.", param=f"tools[{i}]")
        if tool.get("type", "function") == "function":  # custom and built-in tools have no emulation
            tools.append(_tool(tool.get("function"), f"tools[{i}].function"))
    for i, function in enumerate(optional_field(body, "functions", list) or []):
        tools.append(_tool(function, f"functions[{i}]"))
    if body.get("tool_choice") is not None:
        choice = _parse_tool_choice(body["tool_choice"], "tool_choice")
    else:
        choice = _parse_tool_choice(body.get("function_call"), "function_call")
    return choose_tools(tools, choice, "tool_choice")


def _tool(function: Any, param: str) -> Tool:
    name = required_name(function, param)
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest(f"`{param}.parameters` must be a JSON schema object.", param=f"{param}.parameters")
    return Tool(name, optional_text(function, "description", f"{param}.description") or "", parameters)


def _parse_tool_choice(choice: Any, param: str) -> str:
    """auto/none/required, or the name of the one function that must be called."""
    if choice is None:
        return "auto"
    if choice in CHOICES:
        return choice
    if isinstance(choice, dict):
        if choice.get("type") == "allowed_tools" and isinstance(choice.get("allowed_tools"), dict):
            mode = choice["allowed_tools"].get("mode")
            if mode in CHOICES:
                return mode
        function = choice.get("function", choice)  # tool_choice nests it; legacy function_call does not
        if isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]:
            return function["name"]
    raise BadRequest(f"`{param}` must be `auto`, `none`, `required` or name a function.", param=param)


def _parse_stop(stop: Any) -> list[str]:
    """`stop` as OpenAI takes it: null, one string, or an array of up to four strings."""
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(isinstance(s, str) for s in stops):
        raise BadRequest(f"`stop` must be a string or an array of up to {MAX_STOPS} strings.", param="stop")
    return stops  # empty ones are dropped where stops are applied (kimi/filters.stop_at_sequences)


# OpenAI's efforts as neutral ones (kimi.models.choose_effort picks Kimi's among the model's): only
# `xhigh` asks for Kimi's MAX, which uses more of the account's credits.
EFFORT_LEVELS = {"none": "none", "minimal": "none", "low": "low", "medium": "medium", "high": "high",
                 "xhigh": "max"}


def effort_level(effort: Optional[str]) -> Optional[str]:
    """The neutral effort of an OpenAI `reasoning_effort` (chat) or `reasoning.effort` (Responses)."""
    return EFFORT_LEVELS.get(effort) if effort else None


def parse_reasoning_effort(effort: Optional[str]) -> Optional[bool]:
    """`none`/`minimal` turn thinking off, any other effort on, no effort leaves the model's default."""
    if effort is None:
        return None
    return effort not in ("none", "minimal")
