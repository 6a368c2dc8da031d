"""Kimi's own tool use during an answer (web search, agent tools: docs/kimi-protocol.md A.9) as progress
lines of thinking: "[web_search] <queries>" once the arguments parse, "[web_search done: N results]"
when the call ends. Pure: used by kimi/connect/parse.py.
"""
from __future__ import annotations

import json
from typing import Any

from kimi.events import ThinkingDelta, WebSearch

SUMMARY_CHARS = 300  # a progress line shows this much of a tool's arguments


class ToolUse:
    """One of Kimi's own tool calls: shown as a thinking line once its arguments parse, and a line
    when it ends (so an agent's long silences say what it is doing)."""

    def __init__(self, call_id: str = ""):
        self.call_id = call_id
        self.name = ""
        self.args = ""
        self.is_announced = self.is_done = False

    def announce(self, events: list, is_done: bool) -> None:
        if self.is_announced:
            return
        try:
            summary = _summary(json.loads(self.args)) if self.args else ""
        except ValueError:
            if not is_done:
                return  # more argument text is on its way
            summary = self.args[:SUMMARY_CHARS]
        if summary or is_done:
            self.is_announced = True
            events.append(ThinkingDelta(f"[{self.name or 'tool'}] {summary}".rstrip() + "\n", is_progress=True))
            if self.name == "web_search":
                events.append(WebSearch(self.call_id, _queries(self.args)))

    def finish(self, events: list, contents: Any, is_error: bool) -> None:
        if self.is_done:
            return
        self.announce(events, is_done=True)
        self.is_done = True
        name = self.name or "tool"
        if is_error:
            line = f"[{name} failed]\n"
        elif isinstance(contents, list) and contents:
            line = f"[{name} done: {len(contents)} results]\n"
        else:
            line = f"[{name} done]\n"
        events.append(ThinkingDelta(line, is_progress=True))


def _queries(args: str) -> tuple[str, ...]:
    """The queries of a web_search call's arguments (`{"queries": [...]}`; a lone `query` too)."""
    try:
        value = json.loads(args) if args else {}
    except ValueError:
        return (args,) if args else ()
    if not isinstance(value, dict):
        return ()
    queries = value.get("queries", value.get("query"))
    if isinstance(queries, str):
        return (queries,)
    return tuple(q for q in queries if isinstance(q, str)) if isinstance(queries, list) else ()


def _summary(args: Any) -> str:
    """What a tool was asked, short: the one value of a one-key object (queries, a url...), else JSON."""
    if isinstance(args, dict) and len(args) == 1:
        args = next(iter(args.values()))
    if isinstance(args, list) and all(isinstance(item, str) for item in args):
        text = "; ".join(args)
    elif isinstance(args, str):
        text = args
    else:
        text = json.dumps(args, ensure_ascii=False)
    return text[:SUMMARY_CHARS]
