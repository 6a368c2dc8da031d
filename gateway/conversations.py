"""The chat tips (kimi/conversations.py) the Connect client uses, kept in the store with an expiry:
every worker and, with Redis, every machine can continue any chat the gateway served. And who opened
each chat: only that caller may continue it.
"""
from __future__ import annotations

import contextvars
import logging
from typing import Optional

from gateway.store import Store
from kimi.conversations import DEFAULT_TTL
from kimi.errors import NotFound

log = logging.getLogger(__name__)

Item = tuple[str, str, int]  # (name, value, ttl): one value for Store.remember_many

# How long the gateway remembers who opened a chat after its last turn: a conversation left longer is
# no longer continued by id through the server's accounts.
OWNER_SECONDS = 30 * 24 * 3600


class ConversationMemory:
    """kimi.conversations.ChatTips in the store; a store outage costs a parent id, never the answer.

    A turn may hold the tips its answer brings (hold/take/let_go): Kimi's client tells the tip just
    before the answer's Finished, when the turn writes its own values too, so both go in one write."""

    def __init__(self, store: Store, ttl_seconds: float = DEFAULT_TTL):
        self.store = store
        self._ttl = ttl_seconds
        # Per thread, and per greenlet under gevent (each has its own context): the holding turn's dict.
        self._held: contextvars.ContextVar[Optional[dict[str, str]]] = contextvars.ContextVar("held_tips",
                                                                                             default=None)

    def remember(self, chat_id: str, message_id: str) -> None:
        held = self._held.get()
        if held is not None:
            held[chat_id] = message_id
            return
        try:
            self.store.remember(*self.item(chat_id, message_id))
        except Exception as exc:  # the answer is complete: a store outage only costs the next parent id
            log.warning("could not remember the last message of chat %s: %s", chat_id, type(exc).__name__)

    def item(self, chat_id: str, message_id: str) -> Item:
        return "tip:" + chat_id, message_id, int(self._ttl)

    def hold(self, held: dict[str, str]) -> None:
        """Until let_go(held): tips told in this thread or greenlet (the request's) go into `held`, for the
        turn to write with its own values."""
        self._held.set(held)

    def take(self, held: dict[str, str]) -> list[Item]:
        """The tips held so far, as items to write now (`held` is emptied)."""
        items = [self.item(chat_id, message_id) for chat_id, message_id in held.items()]
        held.clear()
        return items

    def let_go(self, held: dict[str, str]) -> list[Item]:
        """Stop holding (from here on tips are written as they come); the tips still held, to write now."""
        if self._held.get() is held:  # a reply closed from elsewhere leaves that context's holder alone
            self._held.set(None)
        return self.take(held)

    def last_message_id(self, chat_id: str) -> Optional[str]:
        try:
            return self.store.recall("tip:" + chat_id)
        except Exception as exc:
            log.warning("could not look up the last message of chat %s: %s", chat_id, type(exc).__name__)
            return None


class ChatOwners:
    """Which caller (gateway.access.Access.caller: a key's id, or a hash of the caller's own token) opened
    each Kimi chat, so that a chat id learnt elsewhere opens nothing. Kept in the store: every worker and
    machine agrees, and a store outage refuses a conversation rather than lending it."""

    def __init__(self, store: Store, ttl_seconds: int = OWNER_SECONDS):
        self.store = store
        self._ttl = ttl_seconds

    def claim_item(self, chat_id: str, caller: str) -> Item:
        """What records that `caller` opened (or continued) the chat: theirs for another OWNER_SECONDS."""
        return "owner:" + chat_id, caller, self._ttl

    def check(self, chat_id: str, caller: str, is_own_account: bool) -> None:
        """NotFound (404) unless `caller` opened the chat. A chat the gateway never served passes only on
        the caller's own token: it lives in their own Kimi account, which Kimi checks; on the server's
        accounts it may be one of the owner's own chats."""
        owner = self.store.recall("owner:" + chat_id)
        if owner == caller or (owner is None and is_own_account):
            return
        raise NotFound(f"No conversation {chat_id!r} was opened with this credential.",
                       code="conversation_not_found", param="conversation_id")
