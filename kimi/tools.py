"""Function calling emulated over Kimi's web chat, which has no function-calling API of its own.

The prompt protocol is fixed (tests and anyone debugging rely on it): the offered tools are listed
with their JSON schemas, and Kimi is told to answer a call as
`<tool_call>{"name": "<tool name>", "arguments": {...}}</tool_call>`, one element per call,
optionally after some plain text. The recogniser finds those elements in the streamed text.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Iterable, Iterator, Optional, Union

from kimi.events import Event, Finished, Message, TextDelta, Tool, ToolCall

log = logging.getLogger(__name__)

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
TOOLS_HEADER = "[Tools]"

_CHOICE_RULES = {
    "auto": "Call a tool only when it helps answer; otherwise answer normally.",
    "none": "Do not call any tool in this answer; answer in plain text.",
    "required": "You must call at least one tool in this answer.",
}


def describe_tools(tools: list[Tool], tool_choice: str = "auto") -> str:
    """The instructions that teach Kimi the tools and the call syntax."""
    lines = [TOOLS_HEADER,
             "You can call the tools listed below. To call one, write exactly one element per call:",
             f'{OPEN_TAG}{{"name": "<tool name>", "arguments": {{...}}}}{CLOSE_TAG}',
             "The arguments must be a JSON object that follows the tool's parameter schema. You may "
             "write some plain text before the calls. After the last call, stop: the results will "
             "come back in the next message.",
             _CHOICE_RULES.get(tool_choice, f"You must call the tool `{tool_choice}` in this answer."),
             "", "Available tools:"]
    for tool in tools:
        schema = json.dumps(tool.parameters or {"type": "object", "properties": {}}, ensure_ascii=False)
        lines.append(f"- {tool.name}: {tool.description or '(no description)'}\n  parameters: {schema}")
    return "\n".join(lines)


def render_call(call: ToolCall) -> str:
    """An earlier call, written back in the syntax Kimi was taught, for folded history."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = call.arguments
    return OPEN_TAG + json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False) + CLOSE_TAG


def render_message_text(message: Message) -> str:
    """A turn's text with its tool traffic spelled out, so Kimi sees the whole exchange."""
    if message.tool_calls:
        calls = "\n".join(render_call(call) for call in message.tool_calls)
        return f"{message.text}\n{calls}" if message.text else calls
    if message.role == "tool":
        label = " ".join(part for part in (message.name, f"(call {message.tool_call_id})"
                                           if message.tool_call_id else "") if part)
        return f"[{label}] {message.text}" if label else message.text
    return message.text


class ToolCallRecognizer:
    """Splits streamed text into plain text and tool calls, holding back only what could still be
    the start of `<tool_call>` (never more), and the body of an element until it closes."""

    def __init__(self, tools: list[Tool], tool_choice: str = "auto"):
        allowed = {tool.name for tool in tools}
        if tool_choice not in _CHOICE_RULES:  # a named tool: only that one may be called
            allowed &= {tool_choice}
        self._allowed = allowed
        self._pending = ""  # text not yet released: a possible tag prefix, or an open element
        self._inside = False
        self.calls_made = 0

    def feed(self, text: str) -> list[Union[str, ToolCall]]:
        self._pending += text
        out: list[Union[str, ToolCall]] = []
        while True:
            if self._inside:
                end = self._pending.find(CLOSE_TAG)
                if end < 0:
                    return out
                body = self._pending[len(OPEN_TAG):end]
                element = self._pending[:end + len(CLOSE_TAG)]
                self._pending = self._pending[end + len(CLOSE_TAG):]
                self._inside = False
                out.append(self._parse_call(body) or element)
                continue
            start = self._pending.find(OPEN_TAG)
            if start >= 0:
                if start:
                    out.append(self._pending[:start])
                self._pending = self._pending[start:]
                self._inside = True
                continue
            keep = _partial_tag_length(self._pending)
            release = self._pending[:len(self._pending) - keep]
            self._pending = self._pending[len(self._pending) - keep:]
            if release:
                out.append(release)
            return out

    def finish(self) -> str:
        """Whatever is still held (an unclosed element comes back as the text it was)."""
        pending, self._pending, self._inside = self._pending, "", False
        if pending.startswith(OPEN_TAG):
            log.info("tool call element never closed; passed on as text")
        return pending

    def _parse_call(self, body: str) -> Optional[ToolCall]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # Kimi's text is not ours: nested past Python's stack, it is text too
            log.info("tool call with invalid JSON passed on as text")
            return None
        if not isinstance(data, dict) or not isinstance(data.get("arguments", {}), dict):
            log.info("tool call without an arguments object passed on as text")
            return None
        name = data.get("name")
        if name not in self._allowed:
            log.info("call of a tool that was not offered (%s) passed on as text", str(name)[:60])
            return None
        self.calls_made += 1
        arguments = json.dumps(data.get("arguments", {}), ensure_ascii=False)
        return ToolCall(call_id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=arguments)


def _partial_tag_length(text: str) -> int:
    """How many trailing characters of `text` could begin `<tool_call>`."""
    start = text.rfind("<", max(0, len(text) - len(OPEN_TAG) + 1))
    if start >= 0 and OPEN_TAG.startswith(text[start:]):
        return len(text) - start
    return 0


def recognize_tool_calls(events: Iterable[Event], tools: list[Tool], tool_choice: str = "auto") -> Iterator[Event]:
    """The event stream with `<tool_call>` elements turned into ToolCall events; when any call was
    made the answer finishes with reason "tool_calls"."""
    recognizer = ToolCallRecognizer(tools, tool_choice)
    for event in events:
        if isinstance(event, TextDelta):
            for piece in recognizer.feed(event.text):
                yield TextDelta(piece) if isinstance(piece, str) else piece
        elif isinstance(event, Finished):
            held = recognizer.finish()
            if held:
                yield TextDelta(held)
            yield Finished("tool_calls") if recognizer.calls_made and event.reason == "stop" else event
        else:
            yield event
