"""Chat hygiene (DELETE_CHATS): deleting the Kimi chats the gateway created, off the request's path, so
a user's Kimi history does not fill with API traffic. A chat kept for native continuation is deleted
when its continuation entry expires; whoever extended it last (any worker, any machine) deletes it.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import secrets
import threading
import time
from typing import Callable, Optional

from gateway.store import Store
from kimi.tokens import Credential
from kimi.errors import KimiError

log = logging.getLogger(__name__)

TokenSource = Callable[[], Optional[Credential]]  # what to delete with, read when the time comes
KEEP = "keep"
_DUE_GRACE = 3600  # the store keeps a due date this much longer than the wait it stands for


class ChatJanitor:
    """One per worker: a daemon thread (a greenlet under gunicorn's gevent worker, whose monkey-patching
    makes threading cooperative) that sends DeleteChat when each chat's time comes. Pending deletions
    live in this worker's memory with the token to use; a restart forgets them (the chats then stay)."""

    def __init__(self, delete: Callable[[str, Credential], None], store: Store):
        self._delete = delete  # (chat_id, credential) -> None, KimiError on failure
        self.store = store
        self._due: list[tuple[float, int, str, TokenSource, Optional[str]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def delete_soon(self, chat_id: str, token: TokenSource) -> None:
        """Delete the chat now, in the background: the reply it served is already complete."""
        self._add(time.time(), chat_id, token, None)

    def delete_at(self, chat_id: str, token: TokenSource, when: float) -> None:
        """Delete the chat at `when` unless a later delete_at() or keep() for it comes first, here or elsewhere."""
        claim = secrets.token_hex(8)
        self.store.remember(_due_key(chat_id), claim, int(when - time.time()) + _DUE_GRACE)
        self._add(when, chat_id, token, claim)

    def keep(self, chat_id: str) -> None:
        """Never delete this chat (its caller continues it by id)."""
        self.store.remember(_due_key(chat_id), KEEP, 30 * 24 * 3600)

    def _add(self, when: float, chat_id: str, token: TokenSource, claim: Optional[str]) -> None:
        with self._wake:
            heapq.heappush(self._due, (when, next(self._order), chat_id, token, claim))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat-janitor", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.time():
                    self._wake.wait(timeout=self._due[0][0] - time.time() if self._due else None)
                _, _, chat_id, token, claim = heapq.heappop(self._due)
            self._sweep(chat_id, token, claim)

    def _sweep(self, chat_id: str, token_source: TokenSource, claim: Optional[str]) -> None:
        try:
            if claim is not None and self.store.recall(_due_key(chat_id)) not in (claim, None):
                return  # continued since, or kept: its new due date belongs to whoever set it
            credential = token_source()
            if credential is None:
                log.info("chat %s not deleted: its account is gone", chat_id)
                return
            self._delete(chat_id, credential)
            log.info("deleted Kimi chat %s", chat_id)
        except KimiError as err:
            log.warning("could not delete Kimi chat %s: %s", chat_id, err.code or type(err).__name__)
        except Exception:  # the janitor must outlive any one failure; never log the token
            log.exception("deleting Kimi chat %s failed", chat_id)


def _due_key(chat_id: str) -> str:
    return "chat-due:" + chat_id
