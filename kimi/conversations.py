"""Which assistant message ended each Kimi chat: continuing a chat names it as `parent_id`
(docs/kimi-protocol.md A.5). The Connect client asks a ChatTips for it and tells it each answer's end;
the gateway gives it one kept in its store (gateway/conversations.py), so every worker and machine
sees it. LocalTips, this process's memory only, serves a client used on its own.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Optional, Protocol

DEFAULT_TTL = 6 * 3600


class ChatTips(Protocol):
    def remember(self, chat_id: str, message_id: str) -> None:
        """The answer that now ends the chat (never raises: a lost tip only costs a parent id)."""

    def last_message_id(self, chat_id: str) -> Optional[str]:
        """The message that ended the chat, or None when unknown (the turn then goes without a parent)."""


class LocalTips:
    """ChatTips in this process's memory, bounded, each entry expiring after `ttl_seconds`."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL, max_entries: int = 10_000):
        self._ttl = ttl_seconds
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def remember(self, chat_id: str, message_id: str) -> None:
        with self._lock:
            self._entries[chat_id] = (message_id, time.monotonic() + self._ttl)
            self._entries.move_to_end(chat_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def last_message_id(self, chat_id: str) -> Optional[str]:
        with self._lock:
            entry = self._entries.get(chat_id)
            if entry is None or entry[1] < time.monotonic():
                self._entries.pop(chat_id, None)
                return None
            return entry[0]
