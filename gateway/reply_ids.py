"""The ids the gateway gives its replies (a chat completion's `id`, a Gemini `responseId`, an Anthropic
message's `id`, a Responses `resp_…`): each names one Kimi chat and the assistant message that answered,
so any earlier id sent back as a conversation continues (or branches) from exactly that message.
Kept in the store, so every worker and machine resolves them, for days.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Optional

from gateway.store import Store

log = logging.getLogger(__name__)

# How the formats spell a reply id around its key (blueprints/formats/*); the key is what is stored.
ID_PREFIXES = ("chatcmpl-", "resp_", "msg_")
# A Responses id from before reply ids were kept named the Kimi chat itself: `resp_<chat id>`.
LEGACY_PREFIX = "resp_"


def new_reply_key() -> str:
    return uuid.uuid4().hex


class ReplyIds:
    """Reply key -> (chat id, message id), each kept `ttl` seconds."""

    def __init__(self, store: Store, ttl: int):
        self.store = store
        self.ttl = ttl

    def item(self, key: str, chat_id: str, message_id: str) -> tuple[str, str, int]:
        """The (name, value, ttl) that links reply `key` to its chat and message, for Store.remember_many."""
        return "reply:" + key, json.dumps([chat_id, message_id]), self.ttl

    def resolve(self, conversation_id: str) -> tuple[str, Optional[str]]:
        """(chat id, parent message id) for what a caller sent as its conversation: a reply id the
        gateway gave, else a Kimi chat id as it is (its last message is the parent then)."""
        key = next((conversation_id[len(p):] for p in ID_PREFIXES if conversation_id.startswith(p)),
                   conversation_id)
        try:
            raw = self.store.recall("reply:" + key)
        except Exception as exc:
            log.warning("could not look up reply %s: %s", key, type(exc).__name__)
            raw = None
        if raw:
            try:
                chat_id, message_id = json.loads(raw)
                return chat_id, message_id or None
            except (ValueError, TypeError):
                pass
        return conversation_id.removeprefix(LEGACY_PREFIX), None
