"""OpenAI Chat Completions: request body -> ChatRequest, neutral events -> chunks or a whole reply,
KimiError -> OpenAI's error body. Pure: no Flask, no requests.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Iterator, Optional

import orjson

from blueprints.formats import sse
from kimi.errors import BadRequest, KimiError
from kimi.events import ChatRequest, Finished, Message, TextDelta, ThinkingDelta
from kimi.usage import TokenCounter

ROLES = ("system", "developer", "user", "assistant", "tool", "function")

# OpenAI's error `type` for each status we answer with; the SDKs pick exception classes by status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
               403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
               413: "invalid_request_error", 429: "rate_limit_error", 504: "timeout_error"}


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
    stream_options = _optional(body, "stream_options", dict) or {}
    return ChatRequest(
        model=model,
        messages=[_parse_message(m, i) for i, m in enumerate(messages)],
        stream=bool(_optional(body, "stream", bool)),
        conversation_id=_optional(body, "conversation_id", str) or None,
        thinking=_parse_reasoning_effort(body),
        include_usage=bool(stream_options.get("include_usage")),
        max_tokens=_optional(body, "max_completion_tokens", int) or _optional(body, "max_tokens", int),
    )


def _parse_message(message: Any, index: int) -> Message:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise BadRequest(f"`{param}` must be an object.", param=param)
    role = message.get("role")
    if role not in ROLES:
        raise BadRequest(f"`{param}.role` must be one of {', '.join(ROLES)}.", param=f"{param}.role")
    return Message(role=role, text=_content_text(message.get("content"), f"{param}.content"))


def _content_text(content: Any, param: str) -> str:
    """Text of a message: a string, or the text parts of a content array."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise BadRequest(f"`{param}` must be a string or an array of content parts.", param=param)
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise BadRequest(f"`{param}[{i}]` must be an object with a `type`.", param=f"{param}[{i}]")
        if part["type"] == "text":
            if not isinstance(part.get("text"), str):
                raise BadRequest(f"`{param}[{i}].text` must be a string.", param=f"{param}[{i}].text")
            texts.append(part["text"])
    return "\n".join(texts)


def _parse_reasoning_effort(body: dict) -> Optional[bool]:
    effort = _optional(body, "reasoning_effort", str)
    if effort is None:
        return None
    return effort not in ("none", "minimal")


def _optional(body: dict, key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    # bool is an int in Python; a JSON `true` is never a valid max_tokens.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"`{key}` must be of type {kind.__name__}.", param=key)
    return value


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
                out.append(content.render(event.text))
            elif kind is ThinkingDelta:
                counter.add(event.text)
                out.append(reasoning.render(event.text))
            elif kind is Finished:
                finish_reason = event.reason  # the last read's deltas then go with the closing chunks
            if out and finish_reason is None and not (reports_pending and events.has_pending):
                yield b"".join(out)
                out = []
        out.append(sse.data(_chunk(head, {}, finish_reason or "stop")))
        if chat.include_usage:
            out.append(sse.data({**head, "choices": [], "usage": _usage(events.prompt_tokens, counter.tokens)}))
    except KimiError as err:
        out.append(sse.data(error_body(err)))
    finally:
        events.close()
    out.append(sse.DONE)
    yield b"".join(out)


def whole_completion(events, chat: ChatRequest) -> dict[str, Any]:
    """The non-stream chat.completion object, built from the same events."""
    texts: list[str] = []
    thoughts: list[str] = []
    finish_reason = "stop"
    try:
        for event in events:
            if isinstance(event, TextDelta):
                texts.append(event.text)
            elif isinstance(event, ThinkingDelta):
                thoughts.append(event.text)
            elif isinstance(event, Finished):
                finish_reason = event.reason
    finally:
        events.close()
    text, thinking = "".join(texts), "".join(thoughts)
    counter = TokenCounter()
    counter.add(text + thinking)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
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
