"""Kimi's Chat stream, one decoded frame at a time, as the neutral events of kimi.events.

Knows the patch vocabulary of docs/kimi-protocol.md A.6–A.11 and its 2026 additions (D.4); no I/O, no framing,
no Flask. Kimi's own tool use (web search, agent tools: A.9) becomes progress lines of thinking, for every model.
"""
from __future__ import annotations

from typing import Callable, Optional

from kimi.events import (ChatStarted, Citations, Event, Finished, MessageStarted, TextDelta, ThinkingDelta,
                         UpstreamError)
from kimi.connect.frames import Frame
from kimi.connect.objects import parse_error, parse_exception, parse_source
from kimi.connect.progress import ToolUse
from kimi.connect.refs import RefMarkers
from kimi.connect.stages import ThinkingStages

_COMPLETED = "MESSAGE_STATUS_COMPLETED"
_DELTAS = {"text": TextDelta, "think": ThinkingDelta}
# Nearly every frame of an answer is one of these appends (A.6); feed() takes them on a short path.
_APPEND_KEYS = frozenset(("op", "mask", "eventOffset", "block"))
_CONTENT_APPENDS = {"block.text.content": "text", "block.think.content": "think"}
_MAX_PARTS = 64  # a block's parts are joined into one string when they reach this many
_REF_LISTS = ("searchChunks", "usedSearchChunks")  # A.8: all sources, then the cited subset
# Documented families we deliberately skip (A.6, A.9, D.4): not worth counting as unknown.
_IGNORED_PREFIXES = ("block.tool.", "block.search.", "block.multiStage.", "block.stage.", "chat.files")
# A block's own fields, beside the one that names its kind, in a block frame that has no mask (D.4).
_BLOCK_FIELDS = frozenset(("id", "parentId", "messageId", "createTime", "updateTime"))
_TOOL_ENDS = ("STATUS_DONE", "STATUS_ERROR", "STATUS_FAILED", "STATUS_CANCELLED")


class StreamParser:
    """Turns frame payloads into events; keeps per-stream state between frames."""

    def __init__(self):
        self.chat_id: Optional[str] = None
        self.chat_name: Optional[str] = None  # latest title Kimi gave the chat (chat.name)
        self.assistant_message_id: Optional[str] = None
        self.is_finished = False
        self.unknown_kinds: set[str] = set()  # e.g. "mask:block.foo", "key:something"
        self.notifications: list = []  # e.g. {"type": "TYPE_MODEL_DEGRADE", ...}, for logging
        self._assistant_ids: set[str] = set()
        self._blocks: dict[tuple[str, str], list[str]] = {}  # (kind, block id) -> content parts
        self._source_keys: set[tuple[str, str]] = set()
        self._tools: dict[str, ToolUse] = {}  # block id -> Kimi's own tool call in that block (A.9)
        self._keywords: set[str] = set()
        self._stages = ThinkingStages()  # which text is reasoning (D.4)
        self._thinking_text = self._stages.text_ids  # the same set, one attribute away for the short path
        self._refs = RefMarkers()

    def feed(self, frame: Frame) -> list[Event]:
        """Events this frame adds (often none); malformed parts are recorded, not raised."""
        payload = frame.payload
        if payload.get("op") == "append" and payload.keys() == _APPEND_KEYS:
            events = self._append_content(payload)
            if events is not None:
                return events
        events = []
        # With a mask, _on_patch reads the containers; without one (D.4), each container names its path.
        handlers = _MASKED if "mask" in payload else _UNMASKED
        for key in payload:
            handler = handlers.get(key, _unknown_key)
            try:
                handler(self, payload, key, events)
            except (AttributeError, TypeError, KeyError):
                # A known key with an unexpected shape: Kimi changed something; keep streaming.
                mask = payload.get("mask", key)
                self.unknown_kinds.add(f"shape:{mask if type(mask) is str else 'mask'}")
        return events

    def _append_content(self, payload: dict) -> Optional[list[Event]]:
        """The events of a well-formed `block.<kind>.content` append, exactly as _on_content would
        give them; None for anything else, which then takes the general path."""
        kind = _CONTENT_APPENDS.get(payload["mask"])
        block = payload["block"]
        if kind is None or type(block) is not dict:
            return None
        value = block.get(kind)
        if type(value) is not dict or len(value) > 1:  # `flags` beside the content: the general path
            return None
        new = value.get("content") or ""
        block_id = block.get("id", "")
        if type(new) is not str or type(block_id) is not str:
            return None
        self._append_part((kind, block_id), new)
        if kind == "text" and (self._thinking_text or self._refs.held or "<" in new):
            events: list[Event] = []
            self._emit_text(block_id in self._thinking_text, new, events)
            return events
        return [_DELTAS[kind](new)] if new else []

    # Top-level keys (A.6 non-patch events, A.10 order of authority).

    def _on_patch(self, payload: dict, key: str, events: list) -> None:
        op, mask = self._op(payload), payload["mask"]
        if op is None:
            return
        handler = _MASKS.get(mask) if type(mask) is str else None
        if handler is not None:  # the usual single path, kept free of splitting
            handler(self, payload, op, events)
            return
        # A FieldMask as text, "a,b" (A.6), or as protobuf JSON, {"paths": ["a", "b"]} (D.4).
        paths = mask.split(",") if type(mask) is str else mask["paths"]
        if type(paths) is not list:
            raise TypeError("a FieldMask's paths are a list")
        self._apply_paths(paths, payload, op, events)

    def _on_unmasked(self, payload: dict, key: str, events: list) -> None:
        """A patch without a mask (D.4): its container, and a block's one kind field, name the path."""
        op = self._op(payload)
        if op is None:
            return
        if key == "block":
            paths = [f"block.{field}" for field in payload[key] if field not in _BLOCK_FIELDS]
        else:
            paths = [key]
        self._apply_paths(paths, payload, op, events)

    def _op(self, payload: dict) -> Optional[str]:
        op = payload.get("op", "set")
        if op in ("set", "append"):
            return op
        self.unknown_kinds.add(f"op:{op}")
        return None

    def _apply_paths(self, paths: list, payload: dict, op: str, events: list) -> None:
        # A path list such as "block.text,block.text.content" must apply the block once.
        handlers = []
        for part in paths:
            part = part.strip()
            handler = _MASKS.get(part)
            if handler is None:
                self._note_mask(part)
            elif handler not in handlers:
                handlers.append(handler)
        for handler in handlers:
            handler(self, payload, op, events)

    def _note_mask(self, mask: str) -> None:
        if not mask.startswith(_IGNORED_PREFIXES):
            self.unknown_kinds.add(f"mask:{mask}")

    def _on_done(self, payload: dict, key: str, events: list) -> None:
        if payload[key] is not False:  # {} and true both mean done; {} is falsy, so no truthiness
            self._finish(events)

    def _on_error(self, payload: dict, key: str, events: list) -> None:
        error = payload[key]
        try:
            events.append(parse_error(error))
        except (AttributeError, TypeError):
            # Never lose a failure to an odd shape: report it with whatever code it carries.
            code = error.get("code") if isinstance(error, dict) else None
            events.append(UpstreamError(code=code if isinstance(code, str) else ""))
            self.unknown_kinds.add("shape:error")

    def _on_notification(self, payload: dict, key: str, events: list) -> None:
        self.notifications.append(payload[key])

    def _ignore_key(self, payload: dict, key: str, events: list) -> None:
        pass

    def _unknown_key(self, payload: dict, key: str, events: list) -> None:
        self.unknown_kinds.add(f"key:{key}")

    # Masks: chat.

    def _on_chat(self, payload: dict, op: str, events: list) -> None:
        chat = payload.get("chat") or {}
        chat_id = chat.get("id")
        if chat_id and self.chat_id is None:
            # Only the first id: `chat`, `chat.lastRequest` and `chat.name` repeat it.
            self.chat_id = chat_id
            events.append(ChatStarted(chat_id))
        self._on_chat_name(payload, op, events)

    def _on_chat_name(self, payload: dict, op: str, events: list) -> None:
        name = (payload.get("chat") or {}).get("name")
        if name:
            self.chat_name = name

    # Masks: message.

    def _on_message(self, payload: dict, op: str, events: list) -> None:
        message = payload.get("message") or {}
        if message.get("role") == "assistant":
            message_id = message.get("id")
            if message_id and message_id not in self._assistant_ids:
                self._assistant_ids.add(message_id)
                self.assistant_message_id = message_id
                events.append(MessageStarted(message_id))
            self._on_status(payload, op, events)
        self._on_refs(payload, op, events)

    def _on_status(self, payload: dict, op: str, events: list) -> None:
        message = payload.get("message") or {}
        if message.get("status") != _COMPLETED:
            return
        # Status frames may omit the role (A.6); then the id tells whose status it is.
        role = message.get("role")
        if role == "assistant" or (role is None and message.get("id") == self.assistant_message_id):
            self._finish(events)

    def _on_refs(self, payload: dict, op: str, events: list) -> None:
        refs = (payload.get("message") or {}).get("refs")
        if refs:
            for name in _REF_LISTS:
                self._add_sources(refs.get(name), events)

    # Masks: block.

    def _on_text(self, payload: dict, op: str, events: list) -> None:
        self._on_content("text", payload, op, events)

    def _on_think(self, payload: dict, op: str, events: list) -> None:
        self._on_content("think", payload, op, events)

    def _on_tool(self, payload: dict, op: str, events: list) -> None:
        """`block.tool` (set), `block.tool.args` (append) and `block.tool.contents` (set), also as one
        FieldMask: a set replaces what it carries, an append can only extend the arguments (A.9)."""
        block = payload.get("block") or {}
        tool = block.get("tool") or {}
        use = self._tools.setdefault(block.get("id", ""), ToolUse(tool.get("toolCallId") or block.get("id", "")))
        use.name = tool.get("name") or use.name
        if tool.get("toolCallId"):  # citation markers name the call by this id (D.4)
            self._refs.tool_names[tool["toolCallId"]] = use.name
        args = tool.get("args")
        if isinstance(args, str) and args:
            use.args = use.args + args if op == "append" else args
        use.announce(events, is_done=False)
        contents = tool.get("contents")
        # web_search results (A.8, A.9) before the call's end line, so they follow the call itself
        self._add_sources(contents, events)
        if tool.get("status") in _TOOL_ENDS or tool.get("isError") or contents:
            use.finish(events, contents, bool(tool.get("isError")))

    def _on_search(self, payload: dict, op: str, events: list) -> None:
        """The older search block (A.6): queries in `keywords`, results in `webPages`."""
        search = (payload.get("block") or {}).get("search") or {}
        fresh = [k for k in search.get("keywords") or () if isinstance(k, str) and k not in self._keywords]
        if fresh:
            self._keywords.update(fresh)
            events.append(ThinkingDelta(f"[search] {'; '.join(fresh)}\n"))
        self._add_sources(search.get("webPages"), events)

    def _on_content(self, kind: str, payload: dict, op: str, events: list) -> None:
        block = payload.get("block") or {}
        value = block.get(kind)
        if value is None:
            return
        new = value.get("content") or ""
        key = (kind, block.get("id", ""))
        if op == "append":
            delta = new
            self._append_part(key, new)
        else:
            parts = self._blocks.get(key)
            delta = _snapshot_delta("".join(parts) if parts else "", new)
            self._blocks[key] = [new]
        if kind == "text":
            stages = self._stages
            # Reasoning as text is rare (D.4): most answers never ask the stages.
            is_thinking = bool(stages.open_ids or stages.text_ids or "flags" in value) and \
                stages.is_thinking_text(block, value)
            self._emit_text(is_thinking, delta, events)
        elif delta:
            events.append(ThinkingDelta(delta))

    def _emit_text(self, is_thinking: bool, delta: str, events: list) -> None:
        if is_thinking:
            if delta:
                events.append(ThinkingDelta(delta))
            return
        if type(delta) is str and (self._refs.held or "<" in delta):  # "<": maybe a citation marker
            delta = self._refs.feed(delta)
        if delta:
            events.append(TextDelta(delta))

    def _on_multi_stage(self, payload: dict, op: str, events: list) -> None:
        self._stages.on_multi_stage(payload.get("block") or {})

    def _on_stage(self, payload: dict, op: str, events: list) -> None:
        self._stages.on_stage(payload.get("block") or {})

    def _on_exception(self, payload: dict, op: str, events: list) -> None:
        """`block.exception` (D.4, D.7): Kimi gave up on this answer, maybe withdrawing what it showed."""
        try:
            events.append(parse_exception((payload.get("block") or {}).get("exception")))
        except (AttributeError, TypeError):
            events.append(UpstreamError(code="block_exception"))  # an odd shape still fails the answer
            self.unknown_kinds.add("shape:block.exception")

    # Shared steps.

    def _append_part(self, key: tuple[str, str], new: str) -> None:
        parts = self._blocks.get(key)
        if parts is None:
            self._blocks[key] = [new]
        elif len(parts) < _MAX_PARTS:
            parts.append(new)
        else:  # a long answer's thousands of small str objects would cost ~60 bytes each per open stream
            try:
                self._blocks[key] = ["".join(parts), new]
            except TypeError:  # a part that is not text (a malformed frame): leave the list as it is
                parts.append(new)

    def _finish(self, events: list) -> None:
        if not self.is_finished:
            held = self._refs.flush()
            if held:
                events.append(TextDelta(held))
            self.is_finished = True
            events.append(Finished("stop"))

    def _add_sources(self, items: Optional[list], events: list) -> None:
        if not items:
            return
        fresh = []
        for item in items:
            source = parse_source(item)
            if source is not None and (source.ref_id, source.url) not in self._source_keys:
                self._source_keys.add((source.ref_id, source.url))
                fresh.append(source)
        if fresh:
            events.append(Citations(tuple(fresh)))


def _snapshot_delta(old: str, new: str) -> str:
    # A.6: a `set` is a snapshot; only a pure extension can be streamed, sent text can't be retracted.
    return new[len(old):] if new.startswith(old) else ""


_Handler = Callable[[StreamParser, dict, str, list], None]

_MASKED: dict[str, _Handler] = {
    "mask": StreamParser._on_patch,
    "done": StreamParser._on_done,
    "error": StreamParser._on_error,
    "notification": StreamParser._on_notification,
    **dict.fromkeys(("op", "eventOffset", "chat", "message", "block", "heartbeat", "metadata"),
                    StreamParser._ignore_key),
}
_UNMASKED: dict[str, _Handler] = {**_MASKED, **dict.fromkeys(("chat", "message", "block"), StreamParser._on_unmasked)}
_unknown_key = StreamParser._unknown_key

_MASKS: dict[str, _Handler] = {
    "chat": StreamParser._on_chat,
    "chat.lastRequest": StreamParser._on_chat,
    "chat.name": StreamParser._on_chat_name,
    "message": StreamParser._on_message,
    "message.status": StreamParser._on_status,
    "message.refs": StreamParser._on_refs,
    "message.refs.searchChunks": StreamParser._on_refs,
    "message.refs.usedSearchChunks": StreamParser._on_refs,
    "block.text": StreamParser._on_text,
    "block.text.content": StreamParser._on_text,
    "block.think": StreamParser._on_think,
    "block.think.content": StreamParser._on_think,
    "block.tool": StreamParser._on_tool,
    "block.tool.args": StreamParser._on_tool,
    "block.tool.contents": StreamParser._on_tool,
    "block.search": StreamParser._on_search,
    "block.search.keywords": StreamParser._on_search,
    "block.search.webPages": StreamParser._on_search,
    "block.multiStage": StreamParser._on_multi_stage,
    "block.stage": StreamParser._on_stage,
    "block.exception": StreamParser._on_exception,
}
