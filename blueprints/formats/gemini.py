"""Google Gemini generateContent: neutral events -> GenerateContentResponse elements (SSE or a streamed
JSON array) or a whole reply, KimiError -> Google's error body (the request side is
blueprints/formats/gemini_request.py). Pure: no Flask, no requests.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Callable, Iterator, Optional

import orjson

from blueprints.formats import json_schema
from blueprints.formats.common import Answer, Transcript, arguments_object, fold_events, stream_error
from blueprints.formats.gemini_request import GeminiRequest, count_tokens, parse_messages, parse_request
from kimi.errors import KimiError, ProtocolError, UpstreamUnavailable
from kimi.events import ToolCall

__all__ = ["GeminiRequest", "parse_request", "parse_messages", "count_tokens", "whole_response", "stream_sse",
           "stream_array", "response_id", "error_body"]

log = logging.getLogger(__name__)

FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS"}  # tool calls and stop sequences end with STOP

# Google's canonical status names (google.rpc.Code) for each HTTP status we answer with. 405 is
# what grpc-gateway answers for a wrong method, with UNIMPLEMENTED.
ERROR_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "PERMISSION_DENIED",
                  403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED", 408: "DEADLINE_EXCEEDED", 413: "INVALID_ARGUMENT",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "INTERNAL",
                  503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

def response_id(reply_key: str) -> str:
    """`responseId`, the reply's own; sent back as `conversation_id` it continues from this very
    answer (gateway/reply_ids.py)."""
    return reply_key or uuid.uuid4().hex


def whole_response(events, request: GeminiRequest) -> dict[str, Any]:
    """The non-stream GenerateContentResponse, built from the same events: thoughts (when asked
    for), the text, then the function calls."""
    answer = fold_events(events, Transcript(is_thinking_counted_apart=True))
    text = answer.text()
    calls = [_function_call(call) for call in answer.calls()]
    if request.is_json and (text or not calls):  # an answer of calls only has no JSON to check
        text = _json_answer(text, request.schema)
    parts = [{"text": answer.thinking(), "thought": True}] if request.include_thoughts and answer.thoughts else []
    if text or not calls:
        parts.append({"text": text})
    return _last_element(parts + calls, answer, events, _head(events, request))


def stream_sse(events, request: GeminiRequest) -> Iterator[bytes]:
    """`alt=sse`: one `data:` event per element, no `event:` line (Google's JS SDK drops those)."""
    for element in _elements(events, request, orjson.dumps):
        yield b"data: " + element + b"\n\n"


def stream_array(events, request: GeminiRequest) -> Iterator[bytes]:
    """The default stream: a JSON array written element by element, framed as Google frames it:
    `[` before the first pretty-printed element, `\\n` after each, `,\\r\\n` between, `]` at the end."""
    separator = b"["
    for element in _elements(events, request, _pretty):
        yield separator + element + b"\n"
        separator = b",\r\n"
    yield b"]"


def _pretty(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


def _elements(events, request: GeminiRequest, dumps: Callable[[Any], bytes]) -> Iterator[bytes]:
    """Each upstream delta as one element with one part; the last carries finishReason and usage;
    an error after the first byte becomes the last element."""
    head = _head(events, request)
    elements = _Elements(request, head, dumps)
    try:
        for event in events:
            element = elements.feed(event)
            if element:
                yield element
        if elements.buffered is not None and (elements.buffered or not elements.has_calls):
            yield elements.text_part.render(_json_answer("".join(elements.buffered), request.schema))
        yield dumps(_last_element([{"text": ""}], elements, events, head))
    except Exception as exc:
        yield dumps(error_body(stream_error(exc, log, "generateContent")))
    finally:
        events.close()


class _Elements(Answer):
    """The elements of one streamed reply, rendered as their events arrive."""

    def __init__(self, request: GeminiRequest, head: dict, dumps: Callable[[Any], bytes]):
        super().__init__(is_thinking_counted_apart=True)
        self.head, self.dumps = head, dumps
        self.text_part = _PartTemplate(head, dumps, False)
        self.render_thinking = _PartTemplate(head, dumps, True).render if request.include_thoughts else _nothing
        # JSON mode buffers the answer: a schema can only be checked on the whole text, and a client
        # must never receive half an answer that turns out not to be JSON. Thoughts still stream,
        # which also keeps the connection busy while Kimi thinks.
        self.buffered: Optional[list[str]] = [] if request.is_json else None
        self.has_calls = False

    def render_text(self, text: str) -> bytes:
        if not text:
            return b""
        if self.buffered is None:
            return self.text_part.render(text)
        self.buffered.append(text)
        return b""

    def render_call(self, call: ToolCall) -> bytes:
        self.has_calls = True
        return self.dumps({"candidates": [{"content": {"parts": [_function_call(call)], "role": "model"},
                                           "index": 0}], **self.head})


def _nothing(text: str) -> bytes:
    return b""


def _head(events, request: GeminiRequest) -> dict[str, str]:
    return {"modelVersion": request.chat.model, "responseId": response_id(events.reply_key)}


def _function_call(call: ToolCall) -> dict[str, Any]:
    return {"functionCall": {"id": call.call_id, "name": call.name, "args": arguments_object(call)}}


def _last_element(parts: list[dict], answer: Answer, events, head: dict) -> dict[str, Any]:
    finish_reason = FINISH_REASONS.get(answer.finished.reason, "STOP")
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": finish_reason, "index": 0}
    if answer.sources:
        # The google-genai SDK reads this as candidates[0].grounding_metadata.grounding_chunks.
        candidate["groundingMetadata"] = {"groundingChunks": [
            {"web": {"uri": source.url, "title": source.title or source.site_name or source.url}}
            for source in answer.sources]}
    return {"candidates": [candidate], "usageMetadata": _usage(answer, events.prompt_tokens), **head,
            "conversation_id": events.chat_id}


def _usage(answer: Answer, prompt_tokens: int) -> dict[str, int]:
    text, thoughts = answer.text_tokens.tokens, answer.thinking_tokens.tokens
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": text,
             "totalTokenCount": prompt_tokens + text + thoughts}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _json_answer(text: str, schema: Optional[dict]) -> str:
    """The answer's JSON text without fences; ProtocolError (502) when it is not JSON or breaks the schema."""
    stripped = json_schema.strip_fences(text)
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        raise ProtocolError("Kimi did not answer with JSON although responseMimeType is application/json.",
                            code="invalid_json_answer") from None
    problem = json_schema.find_violation(value, schema)
    if problem:
        raise ProtocolError(f"Kimi's JSON answer does not match the response schema: {problem}.",
                            code="schema_mismatch")
    return stripped


class _PartTemplate:
    """An element pre-rendered around its one changing value: per delta only the text is encoded."""

    def __init__(self, head: dict, dumps: Callable[[Any], bytes], is_thought: bool):
        marker = "\x00PART\x00"
        part = {"text": marker, "thought": True} if is_thought else {"text": marker}
        element = {"candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}], **head}
        self._prefix, self._suffix = dumps(element).split(orjson.dumps(marker))

    def render(self, text: str) -> bytes:
        return self._prefix + orjson.dumps(text) + self._suffix


def error_body(err: KimiError) -> dict[str, Any]:
    """Google's error shape: {"error": {"code": <HTTP status>, "message", "status"}}."""
    if isinstance(err, UpstreamUnavailable) and not isinstance(err, ProtocolError):
        status = "UNAVAILABLE"  # Kimi down or unreachable: retryable, like Google's 503
    else:
        status = ERROR_STATUSES.get(err.status, "INTERNAL" if err.status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": err.status, "message": err.message, "status": status}}
