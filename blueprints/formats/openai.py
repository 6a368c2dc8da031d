"""OpenAI Chat Completions: neutral events -> chunks or a whole reply, KimiError -> OpenAI's error
body (the request side is blueprints/formats/openai_request.py). Pure: no Flask, no requests.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Iterator, Optional

import orjson

from blueprints.formats import citations, sse
from blueprints.formats.common import STREAM_FAILURE
from blueprints.formats.openai_request import parse_request
from kimi.errors import KimiError
from kimi.events import ChatRequest, Citations, Finished, Source, TextDelta, ThinkingDelta, ToolCall
from kimi.usage import TokenCounter

__all__ = ["parse_request", "stream_completion", "whole_completion", "error_body", "completion_id"]

log = logging.getLogger(__name__)

# OpenAI's error `type` for each status we answer with; the SDKs pick exception classes by status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
               403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
               413: "invalid_request_error", 429: "rate_limit_error", 504: "timeout_error"}

# Neutral finish reasons OpenAI has no word for; the rest ("stop", "length", "tool_calls") are its own.
FINISH_REASONS = {"stop_sequence": "stop"}


def completion_id(chat_id: Optional[str]) -> str:
    """The reply `id` is the Kimi chat id, so a caller can send it back as `conversation_id`."""
    return chat_id or f"chatcmpl-{uuid.uuid4().hex}"


def stream_completion(events, chat: ChatRequest) -> Iterator[bytes]:
    """SSE chunks as the openai SDK parses them, one per upstream delta; errors end the stream.

    The chunks of all deltas that arrived in one upstream read leave in one write (gunicorn sends each
    yield on its own), and nothing waits for more: a read is answered as soon as it is rendered.
    """
    head = {"id": completion_id(events.chat_id), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": chat.model, "system_fingerprint": None}
    content = _DeltaTemplate(head, "content")
    reasoning = _DeltaTemplate(head, "reasoning_content")
    counter = TokenCounter()
    content_length = 0  # characters of content sent, where an appended source list starts
    sources: list[Source] = []
    calls = 0
    # The role chunk leaves with the first deltas, which open_chat has already read.
    out = [sse.data(_chunk(head, {"role": "assistant", "content": ""}, None))]
    finish_reason = None
    # A ChatStream says when the events of one read run out; any other event source is written per event.
    reports_pending = hasattr(events, "has_pending")
    try:
        for event in events:
            kind = type(event)
            if kind is TextDelta:
                counter.add(event.text)
                content_length += len(event.text)
                out.append(content.render(event.text))
            elif kind is ThinkingDelta:
                counter.add(event.text)
                out.append(reasoning.render(event.text))
            elif kind is ToolCall:
                counter.add(event.arguments)
                out.append(_tool_call_chunks(head, calls, event))
                calls += 1
            elif kind is Citations:
                citations.unique(sources, event.sources)
            elif kind is Finished:
                finish_reason = FINISH_REASONS.get(event.reason, event.reason)
            if out and finish_reason is None and not (reports_pending and events.has_pending):
                yield b"".join(out)
                out = []
        if sources:
            out.append(sse.data(_chunk(head, _sources_delta(sources, content_length), None)))
        out.append(sse.data(_chunk(head, {}, finish_reason or "stop")))
        if chat.include_usage:
            out.append(sse.data({**head, "choices": [], "usage": _usage(events.prompt_tokens, counter.tokens)}))
    except KimiError as err:
        out.append(sse.data(error_body(err)))
    except Exception:
        log.exception("rendering a chat.completion stream failed after it began")
        out.append(sse.data(error_body(STREAM_FAILURE)))
    finally:
        events.close()
    out.append(sse.DONE)
    yield b"".join(out)


def whole_completion(events, chat: ChatRequest) -> dict[str, Any]:
    """The non-stream chat.completion object, built from the same events."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    sources: list[Source] = []
    finish_reason = "stop"
    try:
        for event in events:
            if isinstance(event, TextDelta):
                texts.append(event.text)
            elif isinstance(event, ThinkingDelta):
                thoughts.append(event.text)
            elif isinstance(event, ToolCall):
                calls.append(event)
            elif isinstance(event, Citations):
                citations.unique(sources, event.sources)
            elif isinstance(event, Finished):
                finish_reason = FINISH_REASONS.get(event.reason, event.reason)
    finally:
        events.close()
    text, thinking = "".join(texts), "".join(thoughts)
    counter = TokenCounter()
    counter.add(text + thinking + "".join(call.arguments for call in calls))
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if sources:
        delta = _sources_delta(sources, len(text))
        message["content"] = text + delta["content"]
        message["annotations"] = delta["annotations"]
    if calls:
        # OpenAI sends null content beside tool calls when the model wrote no text.
        message["content"] = message["content"] or None
        message["tool_calls"] = [_tool_call(call) for call in calls]
    if thinking:
        message["reasoning_content"] = thinking
    return {"id": completion_id(events.chat_id), "object": "chat.completion", "created": int(time.time()),
            "model": chat.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": _usage(events.prompt_tokens, counter.tokens)}


def error_body(err: KimiError) -> dict[str, Any]:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    error_type = ERROR_TYPES.get(err.status, "api_error")
    return {"error": {"message": err.message, "type": error_type, "param": err.param,
                      "code": err.code or None}}


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _tool_call_chunks(head: dict, index: int, call: ToolCall) -> bytes:
    """A call as OpenAI streams one: id, type and name with empty arguments first, then the arguments
    (the SDK's accumulator concatenates `arguments` and keeps the first chunk's id)."""
    opening = {"index": index, "id": call.call_id, "type": "function",
               "function": {"name": call.name, "arguments": ""}}
    arguments = {"index": index, "function": {"arguments": call.arguments}}
    return (sse.data(_chunk(head, {"tool_calls": [opening]}, None))
            + sse.data(_chunk(head, {"tool_calls": [arguments]}, None)))


def _sources_delta(sources: list[Source], offset: int) -> dict[str, Any]:
    """The numbered source list as the answer's last content, with a url_citation per entry."""
    text, entries = citations.source_list(sources, offset)
    return {"content": text, "annotations": [
        {"type": "url_citation", "url_citation": {"url": entry.source.url, "title": entry.source.title,
                                                  "start_index": entry.start, "end_index": entry.end}}
        for entry in entries]}


def _chunk(head: dict, delta: dict, finish_reason: Optional[str]) -> dict[str, Any]:
    return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                 "finish_reason": finish_reason}]}


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class _DeltaTemplate:
    """A chunk pre-rendered around its one changing value: per delta only the text is encoded."""

    def __init__(self, head: dict, field: str):
        marker = "\x00DELTA\x00"
        rendered = sse.data(_chunk(head, {field: marker}, None))
        self._prefix, self._suffix = rendered.split(orjson.dumps(marker))

    def render(self, text: str) -> bytes:
        return self._prefix + orjson.dumps(text) + self._suffix
