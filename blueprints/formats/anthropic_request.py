"""Anthropic Messages API, request side: a /v1/messages body -> ChatRequest, and count_tokens.
Pure: no Flask, no requests (blueprints/formats/anthropic.py renders the replies).
"""
from __future__ import annotations

from typing import Any, Optional

import orjson

from kimi.errors import BadRequest
from kimi.events import ChatRequest, Message
from kimi.usage import estimate_tokens

ROLES = ("user", "assistant")
THINKING_TYPES = ("enabled", "adaptive", "disabled")
IMAGE_NOTE = "[image omitted]"  # images reach Kimi in a later issue; the turn says one was there
DOCUMENT_NOTE = "[document omitted]"
THINKING_BLOCKS = ("thinking", "redacted_thinking")


def parse_request(body: Any) -> ChatRequest:
    """A ChatRequest from a /v1/messages body, or BadRequest naming the field."""
    body = _require_object(body)
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("`max_tokens` is required and must be a positive integer.", param="max_tokens")
    _optional(body, "metadata", dict)
    return ChatRequest(
        model=_parse_model(body),
        messages=_parse_system(body.get("system")) + _parse_messages(body.get("messages")),
        stream=bool(_optional(body, "stream", bool)),
        conversation_id=_optional(body, "conversation_id", str) or None,
        thinking=_parse_thinking(body.get("thinking")),
        max_tokens=max_tokens,
        stop=_parse_stop_sequences(body.get("stop_sequences")),
    )


def count_tokens(body: Any) -> dict[str, int]:
    """{"input_tokens": N}: the estimate over everything the request carries, tools included.

    Claude Code compacts its context by this number, so tool definitions, tool calls, tool results
    and replayed thinking all count, although Kimi is sent only part of them.
    """
    body = _require_object(body)
    _parse_model(body)
    texts = [m.text for m in _parse_system(body.get("system"))]
    texts += [m.text for m in _parse_messages(body.get("messages"), keep_thinking=True)]
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


def _parse_messages(messages: Any, keep_thinking: bool = False) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty array.", param="messages")
    parsed = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"`{param}` must be an object.", param=param)
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(f"`{param}.role` must be one of {', '.join(ROLES)}.", param=f"{param}.role")
        parsed.append(Message(role, _content_text(message.get("content"), f"{param}.content", keep_thinking)))
    return parsed


def _content_text(content: Any, param: str, keep_thinking: bool) -> str:
    """A message's content as text: a string, or its blocks with tool calls and results spelled out."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"`{param}` must be a string or an array of content blocks.", param=param)
    texts = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise BadRequest(f"`{param}[{i}]` must be an object with a `type`.", param=f"{param}[{i}]")
        text = _block_text(block, f"{param}[{i}]", keep_thinking)
        if text:
            texts.append(text)
    return "\n".join(texts)


def _block_text(block: dict, param: str, keep_thinking: bool) -> str:
    kind = block["type"]
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise BadRequest(f"`{param}.text` must be a string.", param=f"{param}.text")
        return block["text"]
    if kind == "image":
        return IMAGE_NOTE
    if kind == "document":
        return DOCUMENT_NOTE
    # Tool calls and results reach Kimi as text until tools are supported natively.
    if kind in ("tool_use", "server_tool_use"):
        return f"[Tool call {block.get('name', '')} (id {block.get('id', '')})]: {_json(block.get('input'))}"
    if kind == "tool_result":
        label = "Tool error" if block.get("is_error") else "Tool result"
        nested = block.get("content")
        result = _content_text(nested, f"{param}.content", keep_thinking) if nested is not None else ""
        return f"[{label} (id {block.get('tool_use_id', '')})]: {result}"
    # Clients replay earlier thinking with its signature; Kimi keeps its own, so only counting sees it.
    if kind in THINKING_BLOCKS:
        return str(block.get("thinking") or block.get("data") or "") if keep_thinking else ""
    return ""  # block types Kimi has no use for (citations, server tool output) are left out


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
