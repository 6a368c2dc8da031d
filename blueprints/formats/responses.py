"""OpenAI Responses API: neutral events -> the `response` object or its event stream (the sequence the
openai SDK's ResponseStreamState and Codex's SSE reader parse); errors in-stream as response.failed.
Pure: no Flask, no requests (blueprints/formats/responses_request.py parses requests).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Callable, Iterator, Optional

import orjson

from blueprints.formats import citations, sse
from blueprints.formats.common import Answer, fold_events, short_id, stream_by_reads, stream_error
from blueprints.formats.responses_request import Archive, ResponsesRequest, parse_request
from kimi.errors import KimiError, RateLimited
from kimi.events import ToolCall

__all__ = ["Archive", "ResponsesRequest", "parse_request", "new_response_id", "whole_response", "stream_response"]

log = logging.getLogger(__name__)

Keep = Callable[[dict], None]  # what the view does with the final response object (archive it)


def new_response_id(reply_key: str = "") -> str:
    """Every response its own id; as previous_response_id it continues from this very answer
    (gateway/reply_ids.py)."""
    return f"resp_{reply_key or uuid.uuid4().hex}"


def whole_response(events, request: ResponsesRequest, response_id: str) -> dict[str, Any]:
    """The non-stream `response` object, built from the same events as the stream."""
    output = fold_events(events, _Output(request, response_id))
    output.finish()
    return output.response(events.prompt_tokens)


def stream_response(events, request: ResponsesRequest, response_id: str, keep: Keep) -> Iterator[bytes]:
    """The event stream, sequence-numbered from response.created to response.completed (or
    response.failed); the events of one upstream read leave in one write (common.stream_by_reads).
    The final response object, failed ones included, goes to `keep` before its event is written."""
    output = _Output(request, response_id)

    def closing() -> bytes:
        written = output.finish()
        response = output.response(events.prompt_tokens)
        keep(response)
        return written + output.event(_FINAL_EVENTS[response["status"]], {"response": response})

    def failing(exc: Exception) -> bytes:
        failed = output.failed(stream_error(exc, log, "response"), events.prompt_tokens)
        keep(failed)
        return output.event("response.failed", {"response": failed})

    return stream_by_reads(events, output, output.start(), closing, failing)


_FINAL_EVENTS = {"completed": "response.completed", "incomplete": "response.incomplete"}


class _Output(Answer):
    """The output items of one response as they are built, and the stream events that build them.
    Reasoning and message items stay open while their deltas arrive; calls are emitted whole."""

    def __init__(self, request: ResponsesRequest, response_id: str):
        super().__init__(is_thinking_counted_apart=True)
        self.request, self.id, self.created_at = request, response_id, int(time.time())
        self.sequence = 0
        self.items: list[dict] = []  # finished output items, in order
        self.open: Optional[_OpenItem] = None

    def event(self, name: str, payload: dict) -> bytes:
        data = {"type": name, "sequence_number": self.sequence, **payload}
        self.sequence += 1
        return sse.event(name, data)

    def start(self) -> bytes:
        snapshot = self.head("in_progress")
        return (self.event("response.created", {"response": snapshot})
                + self.event("response.in_progress", {"response": snapshot}))

    def render_text(self, text: str) -> bytes:
        return self.write("message", text) if text else b""

    def render_thinking(self, text: str) -> bytes:
        return self.write("reasoning", text) if text else b""

    def render_call(self, call: ToolCall) -> bytes:
        return self.close() + self._call_item(call)

    def write(self, kind: str, text: str) -> bytes:
        opening = b""
        if self.open is None or self.open.kind != kind:
            opening = self.close() + self._open(kind)
        self.open.texts.append(text)
        sequence, self.sequence = self.sequence, self.sequence + 1
        return opening + self.open.template.render(sequence, text)

    def finish(self) -> bytes:
        """The source list as the answer's last text, then the last item closed."""
        if not self.sources:
            return self.close()
        offset = len("".join(self.open.texts)) if self.open and self.open.kind == "message" else 0
        text, entries = citations.source_list(self.sources, offset)
        written = self.write("message", text)
        self.open.annotations = [{"type": "url_citation", "url": entry.source.url, "title": entry.source.title,
                                  "start_index": entry.start, "end_index": entry.end} for entry in entries]
        for index, annotation in enumerate(self.open.annotations):
            written += self.event("response.output_text.annotation.added", {
                **self.open.place(), "content_index": 0, "annotation_index": index, "annotation": annotation})
        return written + self.close()

    def _open(self, kind: str) -> bytes:
        item = _OpenItem(kind, len(self.items))
        if kind == "message":
            added = {"id": item.id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            part = ("response.content_part.added", {"content_index": 0, "part": _text_part("", [])})
        else:
            added = {"id": item.id, "type": "reasoning", "summary": []}
            part = ("response.reasoning_summary_part.added",
                    {"summary_index": 0, "part": {"type": "summary_text", "text": ""}})
        self.open = item
        return (self.event("response.output_item.added", {"output_index": item.index, "item": added})
                + self.event(part[0], {**item.place(), **part[1]}))

    def close(self) -> bytes:
        item, self.open = self.open, None
        if item is None:
            return b""
        text = "".join(item.texts)
        if item.kind == "message":
            done = _message_item(item.id, text, item.annotations)
            closing = (self.event("response.output_text.done", {**item.place(), "content_index": 0, "text": text,
                                                                 "logprobs": []})
                       + self.event("response.content_part.done", {**item.place(), "content_index": 0,
                                                                   "part": done["content"][0]}))
        else:
            done = {"id": item.id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}
            closing = (self.event("response.reasoning_summary_text.done", {**item.place(), "summary_index": 0,
                                                                            "text": text})
                       + self.event("response.reasoning_summary_part.done", {**item.place(), "summary_index": 0,
                                                                             "part": done["summary"][0]}))
        self.items.append(done)
        return closing + self.event("response.output_item.done", {"output_index": item.index, "item": done})

    def _call_item(self, call: ToolCall) -> bytes:
        """A function_call item (a custom_tool_call for custom tools) with its arguments in one delta."""
        index = len(self.items)
        if call.name in self.request.custom_tools:
            value = _custom_input(call)
            item = {"id": "ctc_" + short_id(call.call_id), "type": "custom_tool_call", "status": "completed",
                    "call_id": call.call_id, "name": call.name, "input": value}
            prefix, field = "response.custom_tool_call_input", "input"
        else:
            value = call.arguments
            item = {"id": "fc_" + short_id(call.call_id), "type": "function_call", "status": "completed",
                    "arguments": value, "call_id": call.call_id, "name": call.name}
            prefix, field = "response.function_call_arguments", "arguments"
        self.items.append(item)
        place = {"item_id": item["id"], "output_index": index}
        return (self.event("response.output_item.added", {"output_index": index,
                                                          "item": {**item, "status": "in_progress", field: ""}})
                + self.event(prefix + ".delta", {**place, "delta": value})
                + self.event(prefix + ".done", {**place, field: value})
                + self.event("response.output_item.done", {"output_index": index, "item": item}))

    def failed(self, err: KimiError, prompt_tokens: int) -> dict[str, Any]:
        """The failed response object: its output holds what was streamed before the failure, an
        item still open then marked `incomplete`."""
        code = "rate_limit_exceeded" if isinstance(err, RateLimited) else "server_error"
        output = self.items + ([self.open.snapshot()] if self.open else [])
        return {**self.response(prompt_tokens), "status": "failed", "output": output,
                "error": {"code": code, "message": err.message}}

    def head(self, status: str) -> dict[str, Any]:
        request = self.request
        return {"id": self.id, "object": "response", "created_at": self.created_at, "status": status,
                "background": False, "error": None, "incomplete_details": None,
                "instructions": request.instructions, "max_output_tokens": request.chat.max_tokens,
                "model": request.chat.model, "output": [], "parallel_tool_calls": True,
                "previous_response_id": request.previous_response_id,
                "reasoning": {"effort": request.reasoning_effort, "summary": None}, "store": request.is_stored,
                "temperature": None, "text": {"format": {"type": "text"}}, "tool_choice": request.tool_choice,
                "tools": request.tools, "top_p": None, "truncation": "disabled", "usage": None, "metadata": {}}

    def response(self, prompt_tokens: int) -> dict[str, Any]:
        """The whole response object: `incomplete` when the answer was cut at max_output_tokens."""
        is_cut = self.finished.reason == "length"
        output_tokens = self.text_tokens.tokens + self.thinking_tokens.tokens
        return {**self.head("incomplete" if is_cut else "completed"), "output": self.items,
                "incomplete_details": {"reason": "max_output_tokens"} if is_cut else None,
                "usage": {"input_tokens": prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": output_tokens,
                          "output_tokens_details": {"reasoning_tokens": self.thinking_tokens.tokens},
                          "total_tokens": prompt_tokens + output_tokens}}


class _OpenItem:
    """A reasoning or message item still receiving deltas."""

    _DELTAS = {"message": ("response.output_text.delta", {"content_index": 0}, {"logprobs": []}),
               "reasoning": ("response.reasoning_summary_text.delta", {"summary_index": 0}, {})}

    def __init__(self, kind: str, index: int):
        self.kind, self.index = kind, index
        self.id = ("msg_" if kind == "message" else "rs_") + uuid.uuid4().hex
        self.texts: list[str] = []
        self.annotations: list[dict] = []
        name, before, after = self._DELTAS[kind]
        self.template = _DeltaTemplate(name, {**self.place(), **before}, after)

    def place(self) -> dict[str, Any]:
        return {"item_id": self.id, "output_index": self.index}

    def snapshot(self) -> dict[str, Any]:
        """The item as far as it got, for a response that failed while it was open."""
        text = "".join(self.texts)
        if self.kind == "message":
            return {**_message_item(self.id, text, self.annotations), "status": "incomplete"}
        return {"id": self.id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


class _DeltaTemplate:
    """A delta event pre-rendered around its two changing values, the sequence number and the text."""

    def __init__(self, name: str, fields: dict, trailing: dict):
        number, text = "\x00SEQ\x00", "\x00DELTA\x00"
        rendered = sse.event(name, {"type": name, "sequence_number": number, **fields, "delta": text, **trailing})
        self._prefix, rest = rendered.split(orjson.dumps(number))
        self._middle, self._suffix = rest.split(orjson.dumps(text))

    def render(self, sequence: int, text: str) -> bytes:
        return self._prefix + str(sequence).encode() + self._middle + orjson.dumps(text) + self._suffix


def _text_part(text: str, annotations: list) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}


def _message_item(item_id: str, text: str, annotations: list) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": "completed", "role": "assistant",
            "content": [_text_part(text, annotations)]}


def _custom_input(call: ToolCall) -> str:
    """The string a custom tool takes: the `input` argument Kimi was asked for."""
    try:
        value = json.loads(call.arguments).get("input", "")
    except (ValueError, AttributeError):
        return call.arguments
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
