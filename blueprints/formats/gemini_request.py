"""Google Gemini generateContent, request side: a body -> GeminiRequest (ChatRequest plus what only
the reply needs), with function declarations, function calls and responses in the history, inline
and file data, and the googleSearch tool; and countTokens. Pure: no Flask, no requests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Optional

import orjson

from blueprints.formats.common import (arguments_text, attachment_kind, choose_tools, data_uri, effort_for_budget,
                                       inline_attachment, positive_count, required_name)
from kimi.errors import BadRequest
from kimi.events import Attachment, ChatRequest, Message, Tool, ToolCall
from kimi.usage import estimate_tokens

ROLES = {"user": "user", "model": "assistant", "function": "tool"}
SEARCH_TOOLS = ("googleSearch", "googleSearchRetrieval")
MODES = {"AUTO": "auto", "ANY": "required", "VALIDATED": "auto", "NONE": "none"}


@dataclass
class GeminiRequest:
    """A ChatRequest plus what only the Gemini reply needs to know."""

    chat: ChatRequest
    include_thoughts: bool = False  # thinkingConfig.includeThoughts: return thoughts as parts
    is_json: bool = False  # responseMimeType application/json: the answer must be JSON only
    schema: Optional[dict] = None  # responseJsonSchema or responseSchema, checked when is_json


def parse_request(body: Any, model: str, stream: bool = False) -> GeminiRequest:
    """A GeminiRequest from a generateContent body, or BadRequest naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    config = _optional(body, "generationConfig", dict) or {}
    thinking = _optional(config, "thinkingConfig", dict, "generationConfig.") or {}
    include_thoughts = bool(_optional(thinking, "includeThoughts", bool, "generationConfig.thinkingConfig."))
    budget = _optional(thinking, "thinkingBudget", int, "generationConfig.thinkingConfig.")
    effort = _thinking_effort(thinking, budget)
    is_json = _optional(config, "responseMimeType", str, "generationConfig.") == "application/json"
    schema = (_optional(config, "responseJsonSchema", dict, "generationConfig.")
              or _optional(config, "responseSchema", dict, "generationConfig."))
    messages = parse_messages(body)
    if is_json:
        # With the newest turn, not as a system message: a continued chat (conversation_id or native
        # continuation) receives only the newest turns, and the instruction must reach Kimi every time.
        messages = _with_newest_instruction(messages, _json_instruction(schema))
    tools, search = _parse_tools(body)
    tools, tool_choice = _parse_tool_config(body, tools)
    chat = ChatRequest(model=model, messages=messages, stream=stream,
                       conversation_id=_optional(body, "conversation_id", str) or None,
                       thinking=False if effort == "none" else (True if include_thoughts else None),
                       reasoning_effort=effort,
                       search=search,
                       max_tokens=_parse_max_output_tokens(config),
                       stop=_parse_stop_sequences(config), tools=tools, tool_choice=tool_choice)
    return GeminiRequest(chat, include_thoughts=include_thoughts and effort != "none", is_json=is_json,
                         schema=schema if is_json else None)


def parse_messages(body: dict) -> list[Message]:
    """systemInstruction and contents as neutral messages (roles model -> assistant; function
    responses -> tool messages, function calls -> the model turn's tool calls)."""
    messages = []
    system = _get(body, "systemInstruction")
    if isinstance(system, str):
        messages.append(Message("system", system))
    elif system is not None:
        if not isinstance(system, dict):
            raise BadRequest("`systemInstruction` must be an object with `parts`.", param="systemInstruction")
        messages += _parse_parts("system", system.get("parts"), "systemInstruction.parts")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("`contents` must be a non-empty array.", param="contents")
    for index, content in enumerate(contents):
        param = f"contents[{index}]"
        if not isinstance(content, dict):
            raise BadRequest(f"`{param}` must be an object with `role` and `parts`.", param=param)
        role = content.get("role") or "user"
        if role not in ROLES:
            raise BadRequest(f"`{param}.role` must be `user` or `model`.", param=f"{param}.role")
        messages += _parse_parts(ROLES[role], content.get("parts"), f"{param}.parts")
    return messages


def count_tokens(body: Any) -> dict[str, int]:
    """countTokens: the estimate over systemInstruction, contents and tools (no upstream call)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    request = _optional(body, "generateContentRequest", dict) or body
    texts = []
    for message in parse_messages(request):
        texts += [message.text] + [call.arguments for call in message.tool_calls]
    if request.get("tools"):
        texts.append(orjson.dumps(request["tools"]).decode())
    return {"totalTokens": estimate_tokens("\n\n".join(texts))}


def _parse_parts(role: str, parts: Any, param: str) -> list[Message]:
    """One content's parts: function responses as tool messages of their own, the rest as one message."""
    if not isinstance(parts, list):
        raise BadRequest(f"`{param}` must be an array of parts.", param=param)
    texts: list[str] = []
    attachments: list[Attachment] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for i, part in enumerate(parts):
        part_param = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise BadRequest(f"`{part_param}` must be an object.", param=part_param)
        call, result = _get(part, "functionCall"), _get(part, "functionResponse")
        if isinstance(call, dict):
            calls.append(ToolCall(str(call.get("id") or ""), required_name(call, f"{part_param}.functionCall"),
                                  arguments_text(call.get("args"), f"{part_param}.functionCall.args")))
        elif isinstance(result, dict):
            results.append(Message("tool", orjson.dumps(result.get("response")).decode(),
                                   tool_call_id=str(result.get("id") or ""), name=str(result.get("name") or "")))
        else:
            _add_part(part, part_param, texts, attachments)
    if texts or attachments or calls or not results:
        return results + [Message(role, "\n".join(texts), tuple(attachments), tuple(calls))]
    return results


def _add_part(part: dict, param: str, texts: list[str], attachments: list[Attachment]) -> None:
    if part.get("thought") is True:
        return  # a client echoing earlier thoughts: Kimi thinks afresh
    if "text" in part:
        if not isinstance(part["text"], str):
            raise BadRequest(f"`{param}.text` must be a string.", param=f"{param}.text")
        texts.append(part["text"])
        return
    inline, file = _get(part, "inlineData"), _get(part, "fileData")
    if isinstance(inline, dict) and isinstance(inline.get("data"), str):
        mime = str(_get(inline, "mimeType") or "")
        attachments.append(Attachment(data_uri(mime, inline["data"]), attachment_kind(mime)))
    elif isinstance(file, dict):
        uri, mime = str(_get(file, "fileUri") or ""), str(_get(file, "mimeType") or "")
        if uri.startswith(("http://", "https://")):
            attachments.append(Attachment(uri, attachment_kind(mime)) if mime else inline_attachment(uri))
        else:  # gs:// and Files API URIs point into Google's storage, out of the gateway's reach
            texts.append("[image omitted]" if mime.startswith("image/") else f"[{mime or 'file'} omitted]")
    # Other parts (executable code, thought signatures) mean nothing to Kimi.


def _parse_tools(body: dict) -> tuple[list[Tool], Optional[bool]]:
    """Function declarations Kimi is told about, and True when a Google Search tool asks for search."""
    tools, search = [], None
    for i, entry in enumerate(_optional(body, "tools", list) or []):
        if not isinstance(entry, dict):
            raise BadRequest(f"`tools[{i}]` must be an object.", param=f"tools[{i}]")
        if any(_get(entry, key) is not None for key in SEARCH_TOOLS):
            search = True
        declarations = _optional(entry, "functionDeclarations", list, f"tools[{i}].") or []
        for j, declaration in enumerate(declarations):
            param = f"tools[{i}].functionDeclarations[{j}]"
            name = required_name(declaration, param)
            schema = _get(declaration, "parametersJsonSchema") or _get(declaration, "parameters")
            if schema is not None and not isinstance(schema, dict):
                raise BadRequest(f"`{param}.parameters` must be a schema object.", param=f"{param}.parameters")
            description = declaration.get("description")
            tools.append(Tool(name, description if isinstance(description, str) else "", schema))
    return tools, search


def _parse_tool_config(body: dict, tools: list[Tool]) -> tuple[list[Tool], str]:
    """functionCallingConfig: the mode, and allowedFunctionNames narrowing what may be called."""
    config = _optional(_optional(body, "toolConfig", dict) or {}, "functionCallingConfig", dict, "toolConfig.") or {}
    prefix = "toolConfig.functionCallingConfig."
    mode = _optional(config, "mode", str, prefix) or "AUTO"
    if mode.upper() not in MODES:
        raise BadRequest(f"`{prefix}mode` must be AUTO, ANY, VALIDATED or NONE.", param=prefix + "mode")
    choice = MODES[mode.upper()]
    allowed = _optional(config, "allowedFunctionNames", list, prefix)
    if allowed and choice != "none":
        tools = [tool for tool in tools if tool.name in allowed]
        if not tools:
            raise BadRequest(f"`{prefix}allowedFunctionNames` names no declared function.",
                             param=prefix + "allowedFunctionNames")
        if choice == "required" and len(tools) == 1:
            choice = tools[0].name  # ANY with one allowed function: that one must be called
    return choose_tools(tools, choice, prefix + "allowedFunctionNames")


def _parse_stop_sequences(config: dict) -> list[str]:
    stops = _optional(config, "stopSequences", list, "generationConfig.") or []
    if not all(isinstance(stop, str) for stop in stops):
        raise BadRequest("`generationConfig.stopSequences` must be an array of strings.",
                         param="generationConfig.stopSequences")
    return [stop for stop in stops if stop]  # an empty stop would cut every answer at once


def _with_newest_instruction(messages: list[Message], instruction: str) -> list[Message]:
    if messages and messages[-1].role == "user":
        last = messages[-1]
        text = f"{last.text}\n\n{instruction}" if last.text else instruction
        return messages[:-1] + [replace(last, text=text)]
    return messages + [Message("user", instruction)]


def _json_instruction(schema: Optional[dict]) -> str:
    text = "Answer with JSON only: no prose before or after it, and no Markdown code fences."
    if schema:
        text += " The JSON must conform to this JSON Schema:\n" + orjson.dumps(schema).decode()
    return text


def _get(obj: dict, key: str) -> Any:
    """A field by its camelCase name or its snake_case one (Google's REST API accepts both)."""
    value = obj.get(key)
    return obj.get(re.sub("([A-Z])", r"_\1", key).lower()) if value is None else value


def _parse_max_output_tokens(config: dict) -> Optional[int]:
    """maxOutputTokens, at least 1; candidateCount is checked the same way (Kimi writes one answer)."""
    positive_count(_optional(config, "candidateCount", int, "generationConfig."), "generationConfig.candidateCount")
    return positive_count(_optional(config, "maxOutputTokens", int, "generationConfig."),
                          "generationConfig.maxOutputTokens")


# thinkingLevel (Gemini 3) as a neutral effort; MINIMAL is as near to no reasoning as Gemini goes.
THINKING_LEVELS = {"MINIMAL": "none", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


def _thinking_effort(thinking: dict, budget: Optional[int]) -> Optional[str]:
    """The neutral effort of a thinkingConfig: its thinkingLevel, else its thinkingBudget (README)."""
    level = _optional(thinking, "thinkingLevel", str, "generationConfig.thinkingConfig.")
    if level is not None:
        return THINKING_LEVELS.get(level.upper())
    return effort_for_budget(budget)


def _optional(obj: dict, key: str, kind: type, prefix: str = "") -> Any:
    value = _get(obj, key)
    if value is None:
        return None
    # bool is an int in Python; a JSON `true` is never a valid token count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"`{prefix}{key}` must be of type {kind.__name__}.", param=prefix + key)
    return value
