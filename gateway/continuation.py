"""Native continuation for stateless clients: per caller and with an expiry, which Kimi chat and
assistant message answered a given history. A request whose history is a remembered one, then that
answer, then new user or tool turns, goes to the same chat as those new turns only; any other
history is folded into a new chat. Entries live in the store, so every worker and machine sees them.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from gateway.conversations import ConversationMemory
from gateway.store import Store
from kimi.events import Message, Tool, ToolCall
from kimi.prompt import SYSTEM_ROLES, newest_turns

NEW_TURN_ROLES = ("user", "tool")
# Clients that show only text may send <think> elements back (THINKING_OUTPUT=inline); they are
# not part of the answer either way.
_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.S)


@dataclass(frozen=True)
class Entry:
    chat_id: str
    message_id: str  # the assistant message to name as parent_id
    account: str  # the pool account id, or access.token_ref() of the caller's own token
    expires_at: float


def history_mode(messages: Sequence[Message]) -> str:
    """"folded" when the request carries earlier turns that a new chat receives folded, else "new"."""
    turns = [m for m in messages if m.role not in SYSTEM_ROLES]
    return "folded" if len(newest_turns(turns)) < len(turns) else "new"


class ContinuationMap:
    """`ttl` seconds per entry; `tips` tells whether a remembered message is still its chat's last."""

    def __init__(self, store: Store, tips: ConversationMemory, ttl: int):
        self.store = store
        self.tips = tips
        self.ttl = ttl
        # An entry about to expire is not used: its chat may be deleted at that moment (chat hygiene).
        self.margin = min(30.0, ttl / 10)

    def find(self, caller: str, messages: Sequence[Message], tools: Sequence[Tool]) -> Optional[Entry]:
        """The entry this history continues, or None (then the history is folded into a new chat)."""
        parts = split_history(messages)
        if parts is None:
            return None
        earlier, answer = parts
        raw = self.store.recall(_key(caller, earlier, tools))
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            entry = Entry(record["chat"], record["message"], record["account"], record["expires"])
            is_same = _same_answer(record, answer)
        except (ValueError, KeyError, TypeError):
            return None
        if not is_same or entry.expires_at - time.time() < self.margin:
            return None
        # A regenerated or edited turn left this message behind: Kimi's chat has moved on without it.
        if self.tips.last_message_id(entry.chat_id) != entry.message_id:
            return None
        return entry

    def remember(self, caller: str, messages: Sequence[Message], tools: Sequence[Tool], answer_text: str,
                 calls: Sequence[ToolCall], chat_id: str, message_id: str, account: str) -> float:
        """Record that this history was answered so; returns when the entry expires."""
        item, expires = self.entry_item(caller, messages, tools, answer_text, calls, chat_id, message_id, account)
        self.store.remember(*item)
        return expires

    def entry_item(self, caller: str, messages: Sequence[Message], tools: Sequence[Tool], answer_text: str,
                   calls: Sequence[ToolCall], chat_id: str, message_id: str,
                   account: str) -> tuple[tuple[str, str, int], float]:
        """remember() as a (name, value, ttl) item for a batch, and when the entry expires."""
        text = _canonical_text(answer_text)
        expires = time.time() + self.ttl
        record = {"chat": chat_id, "message": message_id, "account": account, "expires": expires,
                  "answer": _digest(text), "length": len(text), "calls": _calls_digest(calls)}
        return (_key(caller, messages, tools), json.dumps(record), self.ttl), expires


def split_history(messages: Sequence[Message]) -> Optional[tuple[Sequence[Message], Message]]:
    """(the history before the last assistant turn, that turn) when only user or tool turns follow it."""
    for index in range(len(messages) - 1, -1, -1):
        role = messages[index].role
        if role == "assistant":
            return (messages[:index], messages[index]) if index < len(messages) - 1 else None
        if role not in NEW_TURN_ROLES:
            return None
    return None


def _key(caller: str, messages: Sequence[Message], tools: Sequence[Tool]) -> str:
    # Tools count as history: Kimi learnt them with the first turn and is not told again.
    digest = hashlib.sha256(caller.encode())
    for tool in tools:
        digest.update(_encode(["tool", tool.name, tool.description, tool.parameters]))
    for m in messages:
        digest.update(_encode([m.role, m.text, [[a.url, a.kind, a.name] for a in m.attachments],
                               [[c.call_id, c.name, c.arguments] for c in m.tool_calls], m.tool_call_id, m.name]))
    return "cont:" + digest.hexdigest()


def _same_answer(record: dict[str, Any], message: Message) -> bool:
    """Whether the caller's copy of the answer is ours. It may go on after a line break: formats
    append the web sources to the answer text."""
    text = _canonical_text(message.text)
    length = record["length"]
    if _digest(text[:length]) != record["answer"] or (len(text) > length and text[length] != "\n"):
        return False
    return _calls_digest(message.tool_calls) == record["calls"]


def _calls_digest(calls: Sequence[ToolCall]) -> str:
    # Call ids are left out: formats may spell them their own way. Arguments are compared as JSON.
    return _digest(json.dumps([[call.name, _canonical_arguments(call.arguments)] for call in calls]))


def _canonical_arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments


def _canonical_text(text: str) -> str:
    return _THINK_BLOCK.sub("", text).strip() if "<think>" in text else text.strip()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"
