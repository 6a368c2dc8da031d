"""Anthropic Messages API, request side: a /v1/messages body -> ChatRequest (tools, tool_use and
tool_result blocks, images, the web_search server tool), and count_tokens.
Pure: no Flask, no requests (blueprints/formats/anthropic.py renders the replies).
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import orjson

from blueprints.formats.common import (arguments_text, choose_tools, data_uri, effort_for_budget, inline_attachment,
                                       message_role, required_name)
from kimi.errors import BadRequest
from kimi.events import Attachment, ChatRequest, Message, Tool, ToolCall
from kimi.usage import estimate_tokens

log = logging.getLogger(__name__)

# Claude Code sends its environment notes as a `system` message between the turns.
ROLES = ("user", "assistant", "system")
THINKING_TYPES = ("enabled", "adaptive", "disabled")
IMAGE_NOTE = "[image omitted]"  # an image the gateway cannot reach (an Anthropic file id)
DOCUMENT_NOTE = "[document omitted]"
THINKING_BLOCKS = ("thinking", "redacted_thinking")
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def parse_request(body: Any) -> ChatRequest:
    """A ChatRequest from a /v1/messages body, or BadRequest naming the field."""
    body = _require_object(body)
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("`max_tokens` is required and must be a positive integer.", param="max_tokens")
    _optional(body, "metadata", dict)
    tools, search = _parse_tools(body)
    tools, tool_choice = choose_tools(tools, _parse_tool_choice(body.get("tool_choice")), "tool_choice.name")
    return ChatRequest(
        model=_parse_model(body),
        messages=_parse_system(body.get("system")) + _parse_messages(body.get("messages")),
        stream=bool(_optional(body, "stream", bool)),
        conversation_id=_optional(body, "conversation_id", str) or None,
        thinking=_parse_thinking(body.get("thinking")),
        reasoning_effort=_thinking_effort(body.get("thinking")),
        search=search,
        max_tokens=max_tokens,
        stop=_parse_stop_sequences(body.get("stop_sequences")),
        tools=tools,
        tool_choice=tool_choice,
    )


def count_tokens(body: Any) -> dict[str, int]:
    """{"input_tokens": N}: the estimate over everything the request carries, tools included.

    Claude Code compacts its context by this number, so tool definitions, tool calls, tool results
    and replayed thinking all count, although Kimi is sent only part of them.
    """
    body = _require_object(body)
    _parse_model(body)
    texts = [m.text for m in _parse_system(body.get("system"))]
    for message in _parse_messages(body.get("messages"), keep_thinking=True):
        texts += [message.text] + [call.arguments for call in message.tool_calls]
    tools = _optional(body, "tools", list) or []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise BadRequest(f"`tools[{i}]` must be an object.", param=f"tools[{i}]")
        texts += [str(tool.get("name", "")), str(tool.get("description", "")), _json(tool.get("input_schema"))]
    return {"input_tokens": estimate_tokens("\n".join(t for t in texts if t))}


def _require_object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def _parse_model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string.", param="model")
    return model


def _parse_system(system: Any) -> list[Message]:
    """The system prompt: a string or a list of text blocks (cache_control and the like ignored)."""
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [Message("system", system)]
    if not isinstance(system, list):
        raise BadRequest("`system` must be a string or an array of text blocks.", param="system")
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            raise BadRequest(f"`system[{i}]` must be a text block with a string `text`.", param=f"system[{i}]")
        texts.append(block["text"])
    return [Message("system", "\n".join(texts))] if texts else []


def _parse_tools(body: dict) -> tuple[list[Tool], Optional[bool]]:
    """Client tools Kimi is told about, and True when the web_search server tool asks for search."""
    tools, search = [], None
    for i, tool in enumerate(_optional(body, "tools", list) or []):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise BadRequest(f"`{param}` must be an object.", param=param)
        kind = tool.get("type") or "custom"
        if kind == "custom":
            schema = tool.get("input_schema")
            if schema is not None and not isinstance(schema, dict):
                raise BadRequest(f"`{param}.input_schema` must be a JSON schema object.", param=f"{param}.input_schema")
            description = tool.get("description")
            tools.append(Tool(required_name(tool, param), description if isinstance(description, str) else "", schema))
        elif isinstance(kind, str) and kind.startswith("web_search"):
            search = True  # Anthropic's server-side search is Kimi's own search tool
        else:  # other server and Anthropic-defined tools (bash_*, text_editor_*, computer_*) have no emulation
            log.info("tool of type %s is not offered to Kimi", str(kind)[:40])
    return tools, search


def _parse_tool_choice(choice: Any) -> str:
    if choice is None:
        return "auto"
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return required_name(choice, "tool_choice")
    if kind not in TOOL_CHOICES:
        raise BadRequest("`tool_choice.type` must be one of auto, any, tool, none.", param="tool_choice.type")
    return TOOL_CHOICES[kind]


def _parse_messages(messages: Any, keep_thinking: bool = False) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty array.", param="messages")
    names: dict[str, str] = {}  # tool_use id -> tool name, so a result can say which tool it answers
    parsed = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        role = message_role(message, param, ROLES)
        parsed += _parse_turn(role, message.get("content"), f"{param}.content", keep_thinking, names)
    return parsed


def _parse_turn(role: str, content: Any, param: str, keep_thinking: bool, names: dict[str, str]) -> list[Message]:
    """One turn as neutral messages: its tool_result blocks become tool messages of their own, in order."""
    if isinstance(content, str):
        return [Message(role, content)]
    if not isinstance(content, list):
        raise BadRequest(f"`{param}` must be a string or an array of content blocks.", param=param)
    turn = _Turn(role)
    for i, block in enumerate(content):
        block_param = f"{param}[{i}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise BadRequest(f"`{block_param}` must be an object with a `type`.", param=block_param)
        kind = block["type"]
        if kind == "tool_result":
            turn.flush()
            turn.messages.append(_tool_result(block, block_param, keep_thinking, names))
        elif kind == "tool_use":
            call = ToolCall(str(block.get("id") or ""), required_name(block, block_param),
                            arguments_text(block.get("input"), f"{block_param}.input"))
            names[call.call_id] = call.name
            turn.calls.append(call)
        else:
            _add_block(turn, block, block_param, keep_thinking)
    turn.flush()
    return turn.messages or [Message(role, "")]


class _Turn:
    """Blocks of one turn gathered into messages."""

    def __init__(self, role: str):
        self.role = role
        self.messages: list[Message] = []
        self.texts: list[str] = []
        self.attachments: list[Attachment] = []
        self.calls: list[ToolCall] = []

    def flush(self) -> None:
        if self.texts or self.attachments or self.calls:
            self.messages.append(Message(self.role, "\n".join(self.texts), tuple(self.attachments),
                                         tuple(self.calls)))
        self.texts, self.attachments, self.calls = [], [], []


def _add_block(turn: _Turn, block: dict, param: str, keep_thinking: bool) -> None:
    kind = block["type"]
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise BadRequest(f"`{param}.text` must be a string.", param=f"{param}.text")
        turn.texts.append(block["text"])
    elif kind in ("image", "document"):
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        attachment = _source_attachment(source, block.get("title"))
        if attachment is not None:
            turn.attachments.append(attachment)
        elif source.get("type") == "text" and isinstance(source.get("data"), str):
            turn.texts.append(source["data"])  # a plain-text document is just more text
        else:
            turn.texts.append(IMAGE_NOTE if kind == "image" else DOCUMENT_NOTE)
    elif kind in THINKING_BLOCKS and keep_thinking:
        # Clients replay earlier thinking with its signature; Kimi keeps its own, so only counting sees it.
        turn.texts.append(str(block.get("thinking") or block.get("data") or ""))
    # Other blocks (server tool use and results, citations, replayed thinking) mean nothing to Kimi.


def _source_attachment(source: dict, title: Any) -> Optional[Attachment]:
    """An image or document source as an attachment: base64 data as a data: URI, or its URL."""
    name = title if isinstance(title, str) else ""
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media_type = source.get("media_type") if isinstance(source.get("media_type"), str) else ""
        return inline_attachment(data_uri(media_type, source["data"]), name)
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return inline_attachment(source["url"], name)
    return None


def _tool_result(block: dict, param: str, keep_thinking: bool, names: dict[str, str]) -> Message:
    call_id = str(block.get("tool_use_id") or "")
    nested = block.get("content")
    text, attachments = "", ()
    if nested is not None:
        parts = _parse_turn("tool", nested, f"{param}.content", keep_thinking, {})
        text = "\n".join(part.text for part in parts if part.text)
        attachments = tuple(a for part in parts for a in part.attachments)
    if block.get("is_error"):
        text = f"[error] {text}"
    return Message("tool", text, attachments, tool_call_id=call_id, name=names.get(call_id, ""))


def _parse_thinking(thinking: Any) -> Optional[bool]:
    """enabled/adaptive -> on, disabled -> off, absent -> the model's default."""
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in THINKING_TYPES:
        raise BadRequest(f"`thinking.type` must be one of {', '.join(THINKING_TYPES)}.", param="thinking.type")
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise BadRequest("`thinking.budget_tokens` must be a positive integer.",
                             param="thinking.budget_tokens")
    return thinking["type"] != "disabled"


def _thinking_effort(thinking: Any) -> Optional[str]:
    """`disabled` is no reasoning, `enabled` the effort its budget_tokens asks for (already checked)."""
    if not isinstance(thinking, dict) or thinking.get("type") == "adaptive":
        return None
    return "none" if thinking.get("type") == "disabled" else effort_for_budget(thinking.get("budget_tokens"))


def _parse_stop_sequences(stop_sequences: Any) -> list[str]:
    if stop_sequences is None:
        return []
    if not isinstance(stop_sequences, list) or not all(isinstance(s, str) and s for s in stop_sequences):
        raise BadRequest("`stop_sequences` must be an array of non-empty strings.", param="stop_sequences")
    return stop_sequences


def _optional(body: dict, key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadRequest(f"`{key}` must be of type {kind.__name__}.", param=key)
    return value


def _json(value: Any) -> str:
    return "" if value is None else orjson.dumps(value).decode()
