"""Which assistant message ended each Kimi chat the gateway has served, so that continuing a chat
can name it as `parent_id` (docs/kimi-protocol.md A.5). Kept in the store (every worker and, with Redis,
every machine sees it) with an expiry; without a store, in this process's memory only. When a chat
is unknown (expired, or served before a restart without a store) the turn is sent without a parent.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Optional

from gateway.store import Store

log = logging.getLogger(__name__)

DEFAULT_TTL = 6 * 3600


class ConversationMemory:
    def __init__(self, store: Optional[Store] = None, ttl_seconds: float = DEFAULT_TTL,
                 max_entries: int = 10_000):
        self.store = store
        self._ttl = ttl_seconds
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def remember(self, chat_id: str, message_id: str) -> None:
        if self.store is not None:
            try:
                self.store.remember("tip:" + chat_id, message_id, int(self._ttl))
            except Exception as exc:  # the answer is complete: a store outage only costs the next parent id
                log.warning("could not remember the last message of chat %s: %s", chat_id, type(exc).__name__)
            return
        with self._lock:
            self._entries[chat_id] = (message_id, time.monotonic() + self._ttl)
            self._entries.move_to_end(chat_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def last_message_id(self, chat_id: str) -> Optional[str]:
        if self.store is not None:
            try:
                return self.store.recall("tip:" + chat_id)
            except Exception as exc:
                log.warning("could not look up the last message of chat %s: %s", chat_id, type(exc).__name__)
                return None
        with self._lock:
            entry = self._entries.get(chat_id)
            if entry is None or entry[1] < time.monotonic():
                self._entries.pop(chat_id, None)
                return None
            return entry[0]
