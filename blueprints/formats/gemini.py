"""Google Gemini generateContent: request body -> ChatRequest, neutral events -> GenerateContentResponse
elements (SSE or a streamed JSON array) or a whole reply, KimiError -> Google's error body. Pure.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import orjson

from blueprints.formats import json_schema
from kimi.errors import BadRequest, KimiError, ProtocolError, UpstreamUnavailable
from kimi.events import ChatRequest, Finished, Message, TextDelta, ThinkingDelta
from kimi.usage import TokenCounter, estimate_tokens

ROLES = {"user": "user", "model": "assistant", "function": "tool"}
FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS"}

# Google's canonical status names (google.rpc.Code) for each HTTP status we answer with. 405 is
# what grpc-gateway answers for a wrong method, with UNIMPLEMENTED.
ERROR_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "PERMISSION_DENIED",
                  403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED", 413: "INVALID_ARGUMENT",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "INTERNAL",
                  503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


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
    is_json = _optional(config, "responseMimeType", str, "generationConfig.") == "application/json"
    schema = (_optional(config, "responseJsonSchema", dict, "generationConfig.")
              or _optional(config, "responseSchema", dict, "generationConfig."))
    messages = parse_messages(body)
    if is_json:
        messages.append(Message("system", _json_instruction(schema)))
    chat = ChatRequest(model=model, messages=messages, stream=stream,
                       conversation_id=_optional(body, "conversation_id", str) or None,
                       thinking=False if budget == 0 else (True if include_thoughts else None),
                       max_tokens=_optional(config, "maxOutputTokens", int, "generationConfig."),
                       stop=_parse_stop_sequences(config))
    return GeminiRequest(chat, include_thoughts=include_thoughts and budget != 0, is_json=is_json,
                         schema=schema if is_json else None)


def parse_messages(body: dict) -> list[Message]:
    """systemInstruction and contents as neutral messages (roles model -> assistant)."""
    messages = []
    system = _get(body, "systemInstruction")
    if isinstance(system, str):
        messages.append(Message("system", system))
    elif system is not None:
        if not isinstance(system, dict):
            raise BadRequest("`systemInstruction` must be an object with `parts`.", param="systemInstruction")
        messages.append(Message("system", _parts_text(system.get("parts"), "systemInstruction.parts")))
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
        messages.append(Message(ROLES[role], _parts_text(content.get("parts"), f"{param}.parts")))
    return messages


def count_tokens(body: Any) -> dict[str, int]:
    """countTokens: the estimate over systemInstruction, contents and tools (no upstream call)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    request = _optional(body, "generateContentRequest", dict) or body
    texts = [message.text for message in parse_messages(request)]
    if request.get("tools"):
        texts.append(orjson.dumps(request["tools"]).decode())
    return {"totalTokens": estimate_tokens("\n\n".join(texts))}


def _parts_text(parts: Any, param: str) -> str:
    if not isinstance(parts, list):
        raise BadRequest(f"`{param}` must be an array of parts.", param=param)
    texts = [_part_text(part, f"{param}[{i}]") for i, part in enumerate(parts)]
    return "\n".join(text for text in texts if text is not None)


def _part_text(part: Any, param: str) -> Optional[str]:
    """What Kimi reads for one part; None for parts it cannot use (thoughts, signatures)."""
    if not isinstance(part, dict):
        raise BadRequest(f"`{param}` must be an object.", param=param)
    if part.get("thought") is True:
        return None  # a client echoing earlier thoughts: Kimi thinks afresh
    if "text" in part:
        if not isinstance(part["text"], str):
            raise BadRequest(f"`{param}.text` must be a string.", param=f"{param}.text")
        return part["text"]
    media = _get(part, "inlineData") or _get(part, "fileData")
    if isinstance(media, dict):
        # Image upload to Kimi is a later feature; the note keeps the turn's shape honest.
        mime = str(_get(media, "mimeType") or "image/")
        return "[image omitted]" if mime.startswith("image/") else f"[{mime} file omitted]"
    call = _get(part, "functionCall")
    if isinstance(call, dict):
        return f"[Function call] {call.get('name', '')}({orjson.dumps(call.get('args') or {}).decode()})"
    result = _get(part, "functionResponse")
    if isinstance(result, dict):
        return f"[Function result] {result.get('name', '')}: {orjson.dumps(result.get('response')).decode()}"
    return None


def _parse_stop_sequences(config: dict) -> list[str]:
    stops = _optional(config, "stopSequences", list, "generationConfig.") or []
    if not all(isinstance(stop, str) for stop in stops):
        raise BadRequest("`generationConfig.stopSequences` must be an array of strings.",
                         param="generationConfig.stopSequences")
    return [stop for stop in stops if stop]  # an empty stop would cut every answer at once


def _json_instruction(schema: Optional[dict]) -> str:
    text = "Answer with JSON only: no prose before or after it, and no Markdown code fences."
    if schema:
        text += " The JSON must conform to this JSON Schema:\n" + orjson.dumps(schema).decode()
    return text


def _get(obj: dict, key: str) -> Any:
    """A field by its camelCase name or its snake_case one (Google's REST API accepts both)."""
    value = obj.get(key)
    return obj.get(re.sub("([A-Z])", r"_\1", key).lower()) if value is None else value


def _optional(obj: dict, key: str, kind: type, prefix: str = "") -> Any:
    value = _get(obj, key)
    if value is None:
        return None
    # bool is an int in Python; a JSON `true` is never a valid token count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"`{prefix}{key}` must be of type {kind.__name__}.", param=prefix + key)
    return value


class _Answer:
    """One pass over the events: (is_thought, text) pieces with stop sequences applied, keeping
    the finish reason and the token counts usageMetadata reports."""

    def __init__(self, events, stops: list[str]):
        self._events, self._stops = events, stops
        self.finish_reason = "STOP"
        self.thoughts, self.text = TokenCounter(), TokenCounter()

    def __iter__(self) -> Iterator[tuple[bool, str]]:
        held = ""  # a tail that may begin a stop sequence: sent once the next delta settles it
        for event in self._events:
            if isinstance(event, TextDelta):
                text = held + event.text
                if self._stops:
                    cut = min((i for i in map(text.find, self._stops) if i >= 0), default=-1)
                    if cut >= 0:  # Kimi knows no stop sequences: end the answer here ourselves
                        self.finish_reason = "STOP"
                        yield from self._text(text[:cut])
                        return
                    keep = max((k for stop in self._stops for k in range(1, len(stop))
                                if text.endswith(stop[:k])), default=0)
                    text, held = text[:len(text) - keep], text[len(text) - keep:]
                yield from self._text(text)
            elif isinstance(event, ThinkingDelta):
                self.thoughts.add(event.text)
                yield True, event.text
            elif isinstance(event, Finished):
                self.finish_reason = FINISH_REASONS.get(event.reason, "STOP")
        yield from self._text(held)

    def _text(self, text: str) -> Iterator[tuple[bool, str]]:
        if text:
            self.text.add(text)
            yield False, text

    def usage(self, prompt_tokens: int) -> dict[str, int]:
        text, thoughts = self.text.tokens, self.thoughts.tokens
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": text,
                 "totalTokenCount": prompt_tokens + text + thoughts}
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage


def response_id(chat_id: Optional[str]) -> str:
    """`responseId` is the Kimi chat id, so a caller can send it back as `conversation_id`."""
    return chat_id or uuid.uuid4().hex


def whole_response(events, request: GeminiRequest) -> dict[str, Any]:
    """The non-stream GenerateContentResponse, built from the same events."""
    answer = _Answer(events, request.chat.stop)
    thoughts: list[str] = []
    texts: list[str] = []
    try:
        for is_thought, text in answer:
            (thoughts if is_thought else texts).append(text)
    finally:
        events.close()
    text = _json_answer("".join(texts), request.schema) if request.is_json else "".join(texts)
    parts = [{"text": "".join(thoughts), "thought": True}] if request.include_thoughts and thoughts else []
    parts.append({"text": text})
    return _last_element(parts, answer, events, _head(events, request))


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
    text_part, thought_part = _PartTemplate(head, dumps, False), _PartTemplate(head, dumps, True)
    answer = _Answer(events, request.chat.stop)
    # JSON mode buffers the answer: a schema can only be checked on the whole text, and a client
    # must never receive half an answer that turns out not to be JSON. Thoughts still stream,
    # which also keeps the connection busy while Kimi thinks.
    buffered: Optional[list[str]] = [] if request.is_json else None
    try:
        for is_thought, text in answer:
            if is_thought:
                if request.include_thoughts:
                    yield thought_part.render(text)
            elif buffered is not None:
                buffered.append(text)
            else:
                yield text_part.render(text)
        if buffered is not None:
            yield text_part.render(_json_answer("".join(buffered), request.schema))
        yield dumps(_last_element([{"text": ""}], answer, events, head))
    except KimiError as err:
        yield dumps(error_body(err))
    finally:
        events.close()


def _head(events, request: GeminiRequest) -> dict[str, str]:
    return {"modelVersion": request.chat.model, "responseId": response_id(events.chat_id)}


def _last_element(parts: list[dict], answer: _Answer, events, head: dict) -> dict[str, Any]:
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": answer.finish_reason, "index": 0}
    return {"candidates": [candidate], "usageMetadata": answer.usage(events.prompt_tokens), **head,
            "conversation_id": events.chat_id}


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
