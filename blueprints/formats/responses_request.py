"""OpenAI Responses API, request side: a /v1/responses body -> ResponsesRequest (a ChatRequest plus
what the reply echoes). Input items (item references looked up in the caller's archive), function and
custom tools, previous_response_id as the conversation to continue. Pure: no Flask, no requests, no store
but the lookups the view hands in (blueprints/formats/responses.py renders replies).
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Union

from blueprints.formats.common import (CHOICES, arguments_text, choose_tools, inline_attachment,
                                       message_role, optional_count, optional_field, optional_text,
                                       parse_content_parts, part_text, required_name)
from blueprints.formats.openai_request import effort_level, parse_reasoning_effort
from kimi.errors import BadRequest
from kimi.events import Attachment, ChatRequest, Message, Tool, ToolCall

ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text", "text", "refusal")
SEARCH_TOOLS = ("web_search", "web_search_preview")
# A custom (freeform) tool takes one string; Kimi is offered it as a function of one `input` argument.
CUSTOM_SCHEMA = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}


class Archive(Protocol):
    """What a request may name from the caller's earlier responses (gateway/response_archive.py,
    bound to the caller by blueprints/responses.py)."""

    def item(self, item_id: str) -> Optional[dict]: ...


class _NoArchive:
    def item(self, item_id: str) -> Optional[dict]:
        return None


@dataclass
class ResponsesRequest:
    chat: ChatRequest
    instructions: Optional[str] = None
    previous_response_id: Optional[str] = None
    reasoning_effort: Optional[str] = None
    custom_tools: frozenset = frozenset()  # names whose calls are custom_tool_call items
    tools: list = field(default_factory=list)  # echoed in the response object
    tool_choice: Any = "auto"
    is_stored: bool = True  # `store`: whether GET /v1/responses/{id} may return it later
    input_items: list = field(default_factory=list)  # the input as items with ids, references resolved


def parse_request(body: Any, archive: Archive = _NoArchive()) -> ResponsesRequest:
    """A ResponsesRequest from a /v1/responses body, or BadRequest naming the field (an item
    reference that `archive` does not know is one)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string.", param="model")
    instructions = optional_field(body, "instructions", str)
    input_items = _input_items(body.get("input"), archive)
    messages = ([Message("system", instructions)] if instructions else []) + _parse_input(input_items)
    previous = optional_field(body, "previous_response_id", str)
    reasoning = optional_field(body, "reasoning", dict) or {}
    effort = optional_text(reasoning, "effort", "reasoning.effort")
    tools, custom, search, echoed = _parse_tools(optional_field(body, "tools", list) or [])
    tools, tool_choice = choose_tools(tools, _parse_tool_choice(body.get("tool_choice")), "tool_choice")
    chat = ChatRequest(model=model, messages=messages, stream=bool(optional_field(body, "stream", bool)),
                       # The turn resolves a response id to its chat and message (gateway/reply_ids.py).
                       conversation_id=previous or optional_field(body, "conversation_id", str) or None,
                       thinking=parse_reasoning_effort(effort), reasoning_effort=effort_level(effort), search=search,
                       tools=tools, tool_choice=tool_choice, max_tokens=optional_count(body, "max_output_tokens"))
    return ResponsesRequest(chat, instructions=instructions, previous_response_id=previous, reasoning_effort=effort,
                            custom_tools=frozenset(custom), tools=echoed, tool_choice=body.get("tool_choice") or "auto",
                            is_stored=optional_field(body, "store", bool) is not False, input_items=input_items)


def _input_items(value: Any, archive: Archive) -> list[dict]:
    """The input as the items GET /v1/responses/{id}/input_items lists: a string becomes a user
    message, each item gets an id when it has none, and an `item_reference` becomes the item it names."""
    if isinstance(value, str) and value:
        value = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list) or not value:
        raise BadRequest("`input` must be a non-empty string or array of items.", param="input")
    items = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and item.get("type") == "item_reference":
            item = _referenced_item(item, archive, f"input[{i}]")
        elif isinstance(item, dict):
            item = _listed_item(item)
        items.append(item)
    return items


def _listed_item(item: dict) -> dict:
    """An input item as OpenAI lists it back: with an id, and a message's string content as one part."""
    is_message = item.get("type", "message") == "message"
    listed = {"id": ("msg_" if is_message else "item_") + uuid.uuid4().hex, **item}
    if is_message and isinstance(item.get("content"), str):
        kind = "output_text" if item.get("role") == "assistant" else "input_text"
        listed.update(type="message", content=[{"type": kind, "text": item["content"]}])
    return listed


def _referenced_item(reference: dict, archive: Archive, param: str) -> dict:
    """The stored item an `item_reference` names (one of the gateway's own msg_/fc_/rs_… ids)."""
    item_id = reference.get("id")
    item = archive.item(item_id) if isinstance(item_id, str) and item_id else None
    if item is None:
        raise BadRequest(f"Item with id '{item_id}' not found.", param=f"{param}.id")
    return item


def _parse_input(value: list) -> list[Message]:
    messages: list[Message] = []
    names: dict[str, str] = {}  # call id -> tool name, so an output can say which tool it answers
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"`{param}` must be an object.", param=param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = message_role(item, param, ROLES)
            text, attachments = _parse_content(item.get("content"), f"{param}.content")
            messages.append(Message(role, text, attachments))
        elif kind in ("function_call", "custom_tool_call"):
            call = _parse_call(item, kind, param)
            names[call.call_id] = call.name
            _add_call(messages, call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = optional_text(item, "call_id", f"{param}.call_id") or ""
            text, attachments = _parse_content(item.get("output"), f"{param}.output")
            messages.append(Message("tool", text, attachments, tool_call_id=call_id, name=names.get(call_id, "")))
        # Reasoning items and built-in tool calls carry nothing Kimi can use (references are resolved).
    if not messages:
        raise BadRequest("`input` holds no message or tool output.", param="input")
    return messages


def _parse_call(item: dict, kind: str, param: str) -> ToolCall:
    call_id = optional_text(item, "call_id", f"{param}.call_id") or ""
    name = required_name(item, param)
    if kind == "custom_tool_call":
        return ToolCall(call_id, name, json.dumps({"input": optional_text(item, "input", f"{param}.input") or ""},
                                                  ensure_ascii=False))
    return ToolCall(call_id, name, arguments_text(item.get("arguments"), f"{param}.arguments"))


def _add_call(messages: list[Message], call: ToolCall) -> None:
    """A call item joins the assistant message it follows (the API lists them as separate items)."""
    if messages and messages[-1].role == "assistant":
        messages[-1] = dataclasses.replace(messages[-1], tool_calls=messages[-1].tool_calls + (call,))
    else:
        messages.append(Message("assistant", "", tool_calls=(call,)))


def _parse_content(content: Any, param: str) -> tuple[str, tuple[Attachment, ...]]:
    """Text and attachments of a message's content or a tool output: a string, or an array of parts."""
    return parse_content_parts(content, param, _parse_part)


def _parse_part(part: dict, param: str) -> Union[str, Attachment, None]:
    kind = part["type"]
    if kind in TEXT_PARTS:
        return part_text(part, "refusal" if kind == "refusal" else "text", param)
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        return Attachment(part["image_url"], "image")
    if kind == "input_file" and isinstance(part.get("file_data") or part.get("file_url"), str):
        name = part.get("filename")
        return inline_attachment(part.get("file_data") or part["file_url"], name if isinstance(name, str) else "")
    return None  # a file_id names an OpenAI upload the gateway cannot read


def _parse_tools(tools: list) -> tuple[list[Tool], list[str], Optional[bool], list[dict]]:
    """(tools Kimi is offered, names of the custom ones, True when web search was asked for, the
    tools as the response object echoes them)."""
    offered, custom, search, echoed = [], [], None, []
    for i, tool in enumerate(tools):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise BadRequest(f"`{param}` must be an object.", param=param)
        kind = tool.get("type")
        description = optional_text(tool, "description", f"{param}.description") or ""
        if kind == "function":
            parameters = tool.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise BadRequest(f"`{param}.parameters` must be a JSON schema object.", param=f"{param}.parameters")
            offered.append(Tool(required_name(tool, param), description, parameters))
            echoed.append({"type": "function", "name": tool["name"], "description": description or None,
                           "parameters": parameters, "strict": bool(tool.get("strict"))})
        elif kind == "custom":
            offered.append(Tool(required_name(tool, param), _custom_description(tool, description), CUSTOM_SCHEMA))
            custom.append(tool["name"])
            echoed.append(tool)
        elif isinstance(kind, str) and kind.startswith(SEARCH_TOOLS):
            search = True
            echoed.append(tool)
    return offered, custom, search, echoed


def _custom_description(tool: dict, description: str) -> str:
    """A custom tool's description plus its input format (a grammar), so Kimi writes valid input."""
    grammar = tool.get("format") if isinstance(tool.get("format"), dict) else {}
    if grammar.get("type") == "grammar" and isinstance(grammar.get("definition"), str):
        description += (f"\nThe `input` argument is free text in this {grammar.get('syntax', '')} grammar:\n"
                        f"{grammar['definition']}")
    return description


def _parse_tool_choice(choice: Any) -> str:
    if choice is None:
        return "auto"
    if choice in CHOICES:
        return choice
    if isinstance(choice, dict):
        if choice.get("type") in ("function", "custom") and isinstance(choice.get("name"), str) and choice["name"]:
            return choice["name"]
        if choice.get("type") == "allowed_tools" and choice.get("mode") in CHOICES:
            return choice["mode"]
        if isinstance(choice.get("type"), str):
            return "auto"  # a built-in tool (web search, file search): nothing Kimi must call
    raise BadRequest("`tool_choice` must be `auto`, `none`, `required` or name a function.", param="tool_choice")
