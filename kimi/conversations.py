"""Which assistant message ended each Kimi chat this process has served, so that continuing a chat
can name it as `parent_id` (kimi-protocol.md A.5). Kept in memory with an expiry; when a chat is
unknown (another worker served it, or a restart) the continuation is sent without a parent id.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Optional


class ConversationMemory:
    def __init__(self, max_entries: int = 10_000, ttl_seconds: float = 6 * 3600):
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._ttl = ttl_seconds

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
