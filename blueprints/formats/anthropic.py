"""Anthropic Messages API: request body -> ChatRequest, neutral events -> Anthropic's SSE events or a
whole message, KimiError -> Anthropic's error body, and the models list. Pure: no Flask, no requests.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

import orjson

from blueprints.formats import anthropic_search, citations, sse
from blueprints.formats.anthropic_request import count_tokens, parse_request
from blueprints.formats.common import Answer, Transcript, arguments_object, fold_events, short_id, stream_error
from kimi.errors import BusyForFreeUsers, KimiError, Overloaded
from kimi.events import ChatRequest, Source, ToolCall, WebSearch
from kimi.usage import TokenCounter

__all__ = ["parse_request", "count_tokens", "stream_message", "whole_message", "error_body", "error_status",
           "model_list", "model_info"]

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "stop_sequence": "stop_sequence"}

# Anthropic's error `type` for each status we answer with; the SDK picks exception classes by status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
               408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error",
               529: "overloaded_error"}

# Anthropic's own status for "overloaded"; its SDK raises OverloadedError for it and retries.
OVERLOADED_STATUS = 529

log = logging.getLogger(__name__)


def new_message_id(reply_key: str = "") -> str:
    """The message's own `id`; sent back as `conversation_id` it continues from this very answer
    (gateway/reply_ids.py)."""
    return f"msg_{reply_key or uuid.uuid4().hex}"


def stream_message(events, chat: ChatRequest) -> Iterator[bytes]:
    """Anthropic's event sequence, one delta event per upstream delta; errors end the stream."""
    message_id = new_message_id(events.reply_key)
    blocks = _Blocks(_signature(message_id), is_search_shown=chat.search is True, thinking=chat.thinking)
    try:
        head = _message(message_id, chat, [], None, None, _usage(events.prompt_tokens, 1), events.chat_id)
        yield sse.event("message_start", {"type": "message_start", "message": head})
        for event in events:
            written = blocks.feed(event)
            if written:
                yield written
        if blocks.sources and not blocks.is_search_shown:
            source_list = citations.source_list(blocks.sources, 0)[0]
            blocks.text_tokens.add(source_list)
            yield blocks.write("text", source_list)
        yield blocks.finish()
        delta = {"stop_reason": _stop_reason(blocks), "stop_sequence": blocks.finished.stop_sequence}
        yield sse.event("message_delta", {"type": "message_delta", "delta": delta,
                                          "usage": _usage(events.prompt_tokens, blocks.text_tokens.tokens)})
        yield sse.event("message_stop", {"type": "message_stop"})
    except Exception as exc:
        yield sse.event("error", error_body(stream_error(exc, log, "message")))
    finally:
        events.close()


def whole_message(events, chat: ChatRequest) -> dict[str, Any]:
    """The non-stream Message object, built from the same events: thinking first, then text and
    tool_use blocks in the order they came."""
    answer = fold_events(events, _Content(chat.search is True, chat.thinking))
    if answer.sources and not answer.is_search_shown:
        answer.render_text(citations.source_list(answer.sources, 0)[0])  # the answer's last text
    content = [_content_block(item, answer) for item in answer.content]
    thinking = answer.thinking()
    message_id = new_message_id(events.reply_key)
    if thinking:
        content.insert(0, {"type": "thinking", "thinking": thinking, "signature": _signature(message_id)})
    elif not content:
        content.append({"type": "text", "text": ""})
    return _message(message_id, chat, content, _stop_reason(answer), answer.finished.stop_sequence,
                    _usage(events.prompt_tokens, _output_tokens(thinking, content)), events.chat_id)


def _content_block(item, answer: "_Content") -> dict[str, Any]:
    if isinstance(item, ToolCall):
        return _tool_use(item)
    if isinstance(item, dict):  # a web search's blocks
        return item
    text = "".join(item)
    if not answer.is_search_shown:
        return {"type": "text", "text": text}
    cited = anthropic_search.cited_sources(text, answer.sources)
    return {"type": "text", "text": text, "citations": [anthropic_search.citation(s) for s in cited] or None}


class _Content(Transcript):
    """A whole message's content; with the web_search tool, Kimi's searches as their blocks."""

    def __init__(self, is_search_shown: bool, thinking: Optional[bool]):
        # Search progress is thinking only where thinking was asked for: the blocks say it otherwise.
        super().__init__(shows_progress=not is_search_shown or thinking is True)
        self.is_search_shown = is_search_shown
        self.searching: Optional[dict] = None  # the server_tool_use block whose results are due

    def render_search(self, search: WebSearch) -> None:
        if self.is_search_shown:
            self.searching = anthropic_search.tool_use_block(search)
            self.content.append(self.searching)

    def render_sources(self, sources: list[Source]) -> None:
        if self.searching is not None and sources:
            self.content.append(anthropic_search.result_block(self.searching["id"], sources))
            self.searching = None


def _stop_reason(answer: Answer) -> str:
    return STOP_REASONS.get(answer.finished.reason, "end_turn")


def _output_tokens(thinking: str, content: list[dict[str, Any]]) -> int:
    """Tokens of a whole message: its inputs counted as they are sent (compact JSON), where the stream
    counted the arguments as Kimi wrote them."""
    counter = TokenCounter()
    counter.add(thinking + "".join(block.get("text", "") for block in content)
                + "".join(orjson.dumps(block["input"]).decode() for block in content if block["type"] == "tool_use"))
    return counter.tokens


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_use_id(call), "name": call.name, "input": arguments_object(call)}


def tool_use_id(call: ToolCall) -> str:
    """Anthropic's `toolu_` id for a recognised call (Claude Code sends it back in its tool_result)."""
    return "toolu_" + short_id(call.call_id)


def error_body(err: KimiError) -> dict[str, Any]:
    """Anthropic's error shape: {"type": "error", "error": {"type", "message"}}."""
    error_type = ERROR_TYPES.get(error_status(err), "api_error")
    return {"type": "error", "error": {"type": error_type, "message": err.message}}


def error_status(err: KimiError) -> int:
    """The HTTP status Anthropic would answer with: Kimi's overload is its 529; the refusal of free
    accounts stays 429 (rate_limit_error), as in every other API (README, "Never a silent downgrade")."""
    return OVERLOADED_STATUS if isinstance(err, Overloaded) and not isinstance(err, BusyForFreeUsers) else err.status


def model_list(specs, created: int) -> dict[str, Any]:
    """GET /v1/models in Anthropic's shape (one page holding every model)."""
    data = [model_info(spec, created) for spec in specs]
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def model_info(spec, created: int) -> dict[str, Any]:
    """One ModelInfo object; `created_at` is RFC 3339 as the SDK parses it."""
    created_at = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": spec.id, "display_name": spec.description or spec.id,
            "created_at": created_at, "lifecycle": "active"}


def _message(message_id: str, chat: ChatRequest, content: list, stop_reason: Optional[str],
             stop_sequence: Optional[str], usage: dict, chat_id: Optional[str]) -> dict[str, Any]:
    # `conversation_id` is our extension (the Kimi chat id); the SDK keeps unknown fields aside.
    return {"id": message_id, "type": "message", "role": "assistant", "model": chat.model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": usage, "conversation_id": chat_id}


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _signature(message_id: str) -> str:
    # Clients replay thinking blocks with their signature; Kimi has nothing to verify, so any
    # non-empty opaque string serves (replayed blocks are ignored on the way in).
    return "kimi-" + message_id


class _Blocks(Answer):
    """Content blocks of one streamed message: each opened once, closed once, indexed in order."""

    def __init__(self, signature: str, is_search_shown: bool = False, thinking: Optional[bool] = None):
        # Search progress is thinking only where thinking was asked for: the blocks say it otherwise.
        super().__init__(shows_progress=not is_search_shown or thinking is True)
        self.is_search_shown = is_search_shown
        self.searching: Optional[dict] = None  # the server_tool_use block whose results are due
        self.markers = anthropic_search.MarkerScanner()
        self.index = -1
        self.kind: Optional[str] = None  # "thinking" or "text" while a block is open
        self._signature = signature
        self._delta: Optional[_DeltaTemplate] = None

    # A delta of the open block, the usual case, is rendered here: one call less per delta than write().
    def render_text(self, text: str) -> bytes:
        if not text:
            return b""
        written = self._delta.render(text) if self.kind == "text" else self.write("text", text)
        if self.is_search_shown and self.sources:
            for source in self.markers.scan(text, self.sources):
                delta = {"type": "citations_delta", "citation": anthropic_search.citation(source)}
                written += sse.event("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                                             "delta": delta})
        return written

    def render_search(self, search: WebSearch) -> bytes:
        """A server_tool_use block, whole: start with an empty input, the query as one input_json_delta."""
        if not self.is_search_shown:
            return b""
        self.searching = anthropic_search.tool_use_block(search)
        return self._whole_block({**self.searching, "input": {}}, orjson.dumps(self.searching["input"]).decode())

    def render_sources(self, sources: list[Source]) -> bytes:
        if self.searching is None or not sources:
            return b""
        block, self.searching = anthropic_search.result_block(self.searching["id"], sources), None
        return self._whole_block(block, None)

    def render_thinking(self, text: str) -> bytes:
        if not text:
            return b""
        return self._delta.render(text) if self.kind == "thinking" else self.write("thinking", text)

    def write(self, kind: str, text: str) -> bytes:
        """The delta event, preceded by the events that close the open block and open one of `kind`."""
        if kind == self.kind:
            return self._delta.render(text)
        return self._close() + self._open(kind) + self._delta.render(text)

    def render_call(self, call: ToolCall) -> bytes:
        """A whole tool_use block: start with an empty input, the input as one input_json_delta, stop
        (the SDK parses the concatenated partial_json into the block's `input`)."""
        block = {"type": "tool_use", "id": tool_use_id(call), "name": call.name, "input": {}}
        return self._whole_block(block, call.arguments)

    def _whole_block(self, block: dict, partial_json: Optional[str]) -> bytes:
        """A block sent whole: start, its input as one input_json_delta (when it has one), stop."""
        written = self._close() + self._start(block)
        if partial_json is not None:
            delta = {"type": "input_json_delta", "partial_json": partial_json}
            written += sse.event("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                                         "delta": delta})
        return written + sse.event("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def finish(self) -> bytes:
        """Closes the last block; an empty answer still gets one (empty) text block."""
        return (self._open("text") if self.index < 0 else b"") + self._close()

    def _open(self, kind: str) -> bytes:
        start = self._start({"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking"
                            else {"type": "text", "text": ""})
        self.kind = kind
        self._delta = _DeltaTemplate(self.index, kind)
        return start

    def _start(self, block: dict) -> bytes:
        self.index += 1
        start = sse.event("content_block_start", {"type": "content_block_start", "index": self.index,
                                                  "content_block": block})
        # Anthropic sends its first ping right after the first block opens.
        return start + sse.event("ping", {"type": "ping"}) if self.index == 0 else start

    def _close(self) -> bytes:
        if self.kind is None:
            return b""
        closing = b""
        if self.kind == "thinking":
            closing = sse.event("content_block_delta", {
                "type": "content_block_delta", "index": self.index,
                "delta": {"type": "signature_delta", "signature": self._signature}})
        self.kind = None
        return closing + sse.event("content_block_stop", {"type": "content_block_stop", "index": self.index})


class _DeltaTemplate:
    """A content_block_delta event pre-rendered around its text: per delta only the text is encoded."""

    _FIELDS = {"text": ("text_delta", "text"), "thinking": ("thinking_delta", "thinking")}

    def __init__(self, index: int, kind: str):
        marker = "\x00DELTA\x00"
        delta_type, field = self._FIELDS[kind]
        rendered = sse.event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                     "delta": {"type": delta_type, field: marker}})
        self._prefix, self._suffix = rendered.split(orjson.dumps(marker))

    def render(self, text: str) -> bytes:
        return self._prefix + orjson.dumps(text) + self._suffix

