"""The chat tips (kimi/conversations.py) the Connect client uses, kept in the store with an expiry:
every worker and, with Redis, every machine can continue any chat the gateway served.
"""
from __future__ import annotations

import logging
from typing import Optional

from gateway.store import Store
from kimi.conversations import DEFAULT_TTL

log = logging.getLogger(__name__)


class ConversationMemory:
    """kimi.conversations.ChatTips in the store; a store outage costs a parent id, never the answer."""

    def __init__(self, store: Store, ttl_seconds: float = DEFAULT_TTL):
        self.store = store
        self._ttl = ttl_seconds

    def remember(self, chat_id: str, message_id: str) -> None:
        try:
            self.store.remember("tip:" + chat_id, message_id, int(self._ttl))
        except Exception as exc:  # the answer is complete: a store outage only costs the next parent id
            log.warning("could not remember the last message of chat %s: %s", chat_id, type(exc).__name__)

    def last_message_id(self, chat_id: str) -> Optional[str]:
        try:
            return self.store.recall("tip:" + chat_id)
        except Exception as exc:
            log.warning("could not look up the last message of chat %s: %s", chat_id, type(exc).__name__)
            return None
