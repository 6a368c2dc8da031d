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
from blueprints.formats.common import Answer, Transcript, fold_events, stream_by_reads, stream_error
from blueprints.formats.openai_request import parse_request
from kimi.errors import KimiError
from kimi.events import ChatRequest, Source, ToolCall

__all__ = ["parse_request", "stream_completion", "whole_completion", "error_body", "completion_id"]

log = logging.getLogger(__name__)

# OpenAI's error `type` for each status we answer with; the SDKs pick exception classes by status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
               403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
               408: "timeout_error", 413: "invalid_request_error", 429: "rate_limit_error", 504: "timeout_error"}

# Neutral finish reasons OpenAI has no word for; the rest ("stop", "length", "tool_calls") are its own.
FINISH_REASONS = {"stop_sequence": "stop"}


def completion_id(reply_key: str) -> str:
    """The reply's own `id`; sent back as `conversation_id` it continues from this very answer
    (gateway/reply_ids.py)."""
    return f"chatcmpl-{reply_key or uuid.uuid4().hex}"


def stream_completion(events, chat: ChatRequest) -> Iterator[bytes]:
    """SSE chunks as the openai SDK parses them, one per upstream delta and those of one upstream read
    in one write (common.stream_by_reads); errors end the stream."""
    head = {"id": completion_id(events.reply_key), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": chat.model, "system_fingerprint": None}
    chunks = _Chunks(head)

    def closing() -> bytes:
        written = chunks.open_role()  # an answer with no content still says who speaks
        if chunks.sources:
            written += sse.data(_chunk(head, _sources_delta(chunks.sources, chunks.content.length), None))
        written += sse.data(_chunk(head, {}, _finish_reason(chunks) or "stop"))
        if chat.include_usage:
            usage = _usage(events.prompt_tokens, chunks.text_tokens.tokens)
            written += sse.data({**head, "choices": [], "usage": usage})
        return written + sse.DONE

    def failing(exc: Exception) -> bytes:
        return sse.data(error_body(stream_error(exc, log, "chat.completion"))) + sse.DONE

    # The role leaves with the first deltas, which open_chat has already read (see _Chunks).
    return stream_by_reads(events, chunks, b"", closing, failing)


def whole_completion(events, chat: ChatRequest) -> dict[str, Any]:
    """The non-stream chat.completion object, built from the same events."""
    answer = fold_events(events, Transcript())
    text, thinking, calls = answer.text(), answer.thinking(), answer.calls()
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if answer.sources:
        delta = _sources_delta(answer.sources, len(text))
        message["content"] = text + delta["content"]
        message["annotations"] = delta["annotations"]
    if calls:
        # OpenAI sends null content beside tool calls when the model wrote no text.
        message["content"] = message["content"] or None
        message["tool_calls"] = [_tool_call(call) for call in calls]
    if thinking:
        message["reasoning_content"] = thinking
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(answer)}
    return {"id": completion_id(events.reply_key), "object": "chat.completion", "created": int(time.time()),
            "model": chat.model, "system_fingerprint": None, "choices": [choice],
            "usage": _usage(events.prompt_tokens, answer.text_tokens.tokens)}


def _finish_reason(answer: Answer) -> str:
    reason = answer.finished.reason
    return FINISH_REASONS.get(reason, reason)


def error_body(err: KimiError) -> dict[str, Any]:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    error_type = ERROR_TYPES.get(err.status, "api_error")
    return {"error": {"message": err.message, "type": error_type, "param": err.param,
                      "code": err.code or None}}


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _tool_call_chunks(head: dict, index: int, call: ToolCall, role: dict) -> bytes:
    """A call as OpenAI streams one: id, type and name with empty arguments first, then the arguments
    (the SDK's accumulator concatenates `arguments` and keeps the first chunk's id). `role` is the
    answer's role for its first chunk: OpenAI sends it with the first call and null content."""
    opening = {"index": index, "id": call.call_id, "type": "function",
               "function": {"name": call.name, "arguments": ""}}
    arguments = {"index": index, "function": {"arguments": call.arguments}}
    return (sse.data(_chunk(head, {**role, "tool_calls": [opening]}, None))
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


class _Chunks(Answer):
    """The chunks of one streamed completion, rendered as their events arrive.

    The role goes first, the way OpenAI streams it: a chunk of its own before text or reasoning
    (without the empty `content` that @ai-sdk/openai would turn into an empty text part), beside
    `content: null` in the first chunk of a tool call.
    """

    def __init__(self, head: dict):
        super().__init__()
        self.head = head
        self.content = _DeltaTemplate(head, "content")
        self.reasoning = _DeltaTemplate(head, "reasoning_content")
        self.is_role_sent = False
        self.calls = 0  # the index of the next call

    def render_text(self, text: str) -> bytes:  # until the role is out; then the template's own
        return self.open_role() + self.content.render(text) if text else b""

    def render_thinking(self, text: str) -> bytes:
        return self.open_role() + self.reasoning.render(text) if text else b""

    def open_role(self) -> bytes:
        """The role chunk, once; from then on the templates render the deltas themselves, so nothing
        of ours stands between an event and its bytes."""
        if self.is_role_sent:
            return b""
        self._role_sent()
        return sse.data(_chunk(self.head, {"role": "assistant"}, None))

    def render_call(self, call: ToolCall) -> bytes:
        role = {} if self.is_role_sent else {"role": "assistant", "content": None}
        self._role_sent()
        chunks = _tool_call_chunks(self.head, self.calls, call, role)
        self.calls += 1
        return chunks

    def _role_sent(self) -> None:
        self.is_role_sent = True
        self.render_text = self.content.render
        self.render_thinking = self.reasoning.render


class _DeltaTemplate:
    """A chunk pre-rendered around its one changing value: per delta only the text is encoded."""

    def __init__(self, head: dict, field: str):
        marker = "\x00DELTA\x00"
        rendered = sse.data(_chunk(head, {field: marker}, None))
        self._prefix, self._suffix = rendered.split(orjson.dumps(marker))
        self.length = 0  # characters rendered: where a source list appended after them starts

    def render(self, text: str) -> bytes:
        self.length += len(text)
        return self._prefix + orjson.dumps(text) + self._suffix
