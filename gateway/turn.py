"""One request's trip to Kimi once its access is chosen: which chat and parent it goes to (native
continuation), which model serves it when Kimi is overloaded (fallback), and what happens when the
reply closes (chat hygiene, metrics). open_events (blueprints/upstream.py) builds one per request.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from gateway.access import Access
from blueprints.observability import count_unknown_kinds, count_upstream_error
from gateway.lending import open_pooled
from kimi import tokens
from gateway.continuation import ContinuationMap, Entry, history_mode, token_ref
from gateway.conversations import DEFAULT_TTL, ConversationMemory
from kimi.errors import KimiError, NotFound, Overloaded
from kimi.events import ChatRequest, Event, Finished
from gateway.filters import FilteredStream, Transform, record_answer, thinking_output
from gateway.hygiene import ChatJanitor
from kimi.models import parse_fallbacks
from gateway.pool import AccountPool
from kimi.router import UpstreamRouter, is_connect_token
from gateway.store import Store

log = logging.getLogger(__name__)

RECORDED_REASONS = ("stop", "tool_calls")  # a cut answer ("length", a stop sequence) is not what Kimi holds


@dataclass(frozen=True)
class Services:
    """The app's settings for turns, built once by install()."""

    continuations: Optional[ContinuationMap]  # None: NATIVE_CONTINUATION off
    janitor: Optional[ChatJanitor]  # None: DELETE_CHATS off
    fallbacks: dict[str, tuple[str, ...]]
    thinking: Optional[Transform]


def build_services(settings: dict, router: UpstreamRouter, store: Store) -> Services:
    ttl = int(settings["native_continuation_ttl"])
    # Parents of continued chats live in the store from now on, so every worker can continue any chat.
    tips = router.connect.conversations = ConversationMemory(store, ttl_seconds=max(ttl, DEFAULT_TTL))
    return Services(
        continuations=ContinuationMap(store, tips, ttl) if settings["native_continuation"] else None,
        janitor=ChatJanitor(router.connect.delete_chat, store) if settings["delete_chats"] else None,
        fallbacks=parse_fallbacks(settings["overload_fallback"], router.models),
        thinking=thinking_output(settings["thinking_output"]))


class Turn:
    """One request on its way to Kimi: who asks (`caller`), where the turn goes (`mode`: native,
    folded or new) and on which account, and what the reply's end leaves to do."""

    def __init__(self, chat: ChatRequest, access: Access, credential: Optional[str], services: Services,
                 router: UpstreamRouter, pool: AccountPool):
        self.chat, self.services, self.router, self.pool = chat, services, router, pool
        self.token = access.own_token
        self.is_connect = self.token is None or is_connect_token(self.token)
        # Never the token itself: a hash of what was presented, or the proxy key's id.
        self.caller = "own:" + token_ref(credential or "") if self.token else "key:" + (access.key_id or "local")
        self.mode = "native" if chat.conversation_id else history_mode(chat.messages)
        self.entry: Optional[Entry] = None
        self.account: Optional[str] = None  # the pool account id, or token_ref() of an own token
        self.remembered_until: Optional[float] = None
        self.stream: Any = None  # the opened stream, once open() has returned
        if services.continuations and self.is_connect and not chat.conversation_id:
            self._find_entry(credential or "")

    def _find_entry(self, credential: str) -> None:
        try:
            entry = self.services.continuations.find(self.caller, self.chat.messages, self.chat.tools)
        except Exception as exc:  # the store is down: fold, as for a history seen for the first time
            log.warning("could not look up a continuation: %s", type(exc).__name__)
            return
        if entry is not None and self.token:
            # Of several comma-separated tokens, the one whose account holds the chat.
            match = next((t for t in tokens.split_tokens(credential) if token_ref(t) == entry.account), None)
            if match is None:
                return
            self.token = match
        self.entry = entry

    # Opening

    def open(self) -> Any:
        """The opened stream, after overload fallback and native continuation have had their say."""
        chain = self._model_chain()
        for position, model_id in enumerate(chain):
            is_last = position == len(chain) - 1
            # A fallback model brings its own thinking default: thinking is what was overloaded.
            attempt = self.chat if position == 0 else replace(self.chat, model=model_id, thinking=None)
            try:
                self.stream = self._open_model(attempt, cool_down=is_last)
                return self.stream
            except Overloaded as err:
                if is_last:
                    raise
                count_upstream_error(err)
                log.info("Kimi is overloaded for %s; falling back to %s", model_id, chain[position + 1])
        raise AssertionError("unreachable: the chain is never empty")

    def _model_chain(self) -> list[str]:
        model_id = self.router.models.resolve(self.chat.model).id
        return [model_id, *self.services.fallbacks.get(model_id, ())]

    def _open_model(self, attempt: ChatRequest, cool_down: bool) -> Any:
        try:
            return self._open_once(attempt, cool_down)
        except NotFound as err:
            if self.entry is None:
                raise
            count_upstream_error(err)
            # Deleted meanwhile (on kimi.com, or by hygiene at the entry's expiry): start afresh.
            log.info("remembered chat %s is gone from Kimi; folding the history into a new chat",
                     self.entry.chat_id)
            self.entry = None
            return self._open_once(attempt, cool_down)

    def _open_once(self, attempt: ChatRequest, cool_down: bool) -> Any:
        if self.token:
            self.account = token_ref(self.token)
            return self.router.open_chat(self._upstream_chat(attempt, self.account), self.token)
        prefer = self.entry.account if self.entry else self.pool.account_for_chat(self.chat.conversation_id)
        stream = open_pooled(self.router.open_chat, lambda lease: self._upstream_chat(attempt, lease.account_id),
                             self.pool, prefer, cool_down)
        self.account = stream.account_id
        return stream

    def _upstream_chat(self, attempt: ChatRequest, account: str) -> ChatRequest:
        """What Kimi is sent on this account: only the new turns, into the remembered chat, when the
        account holds it; else the request as it came (its history folded into a new chat)."""
        if self.entry is not None and self.entry.account == account:
            self.mode = "native"
            return replace(attempt, conversation_id=self.entry.chat_id)
        if not self.chat.conversation_id:
            self.mode = history_mode(self.chat.messages)
        return attempt

    # Between Kimi and the format

    def transforms(self) -> list[Transform]:
        """The answer recorder, when this turn may be continued natively."""
        if self.services.continuations and self.is_connect and not self.chat.conversation_id:
            return [record_answer(self._record)]
        return []

    def _record(self, text: str, calls: tuple, finished: Finished) -> None:
        chat_id, message_id = self.stream.chat_id, getattr(self.stream, "message_id", None)
        if finished.reason not in RECORDED_REASONS or not chat_id or not message_id:
            return
        try:
            self.remembered_until = self.services.continuations.remember(
                self.caller, self.chat.messages, self.chat.tools, text, calls, chat_id, message_id, self.account)
        except Exception as exc:  # the store is down: the answer still goes out, the next turn folds
            log.warning("could not remember chat %s for continuation: %s", chat_id, type(exc).__name__)

    # When the reply closes

    def after_close(self, stream: Any) -> None:
        count_unknown_kinds(getattr(stream, "unknown_kinds", ()))
        janitor, chat_id = self.services.janitor, getattr(stream, "chat_id", None)
        if janitor is None or not self.is_connect or not chat_id:
            return
        try:
            if self.chat.conversation_id or self.chat.keep_conversation:
                if self.services.continuations:
                    janitor.keep(chat_id)  # a deletion planned by an earlier stateless turn is off
            elif self.remembered_until:
                janitor.delete_at(chat_id, self._token_source(), self.remembered_until)
            elif self.mode != "native":  # a chat this turn created, now answered (or abandoned)
                janitor.delete_soon(chat_id, self._token_source())
            # A continued chat whose new turn failed keeps the deletion its last answer planned.
        except Exception as exc:
            log.warning("could not plan the deletion of chat %s: %s", chat_id, type(exc).__name__)

    def _token_source(self) -> Callable[[], Optional[str]]:
        if self.token:
            token = self.token
            return lambda: token
        # A pool account's token may be renewed before the deletion: read the current one then.
        store, account_id = self.pool.store, self.account
        return lambda: (store.read("accounts").get(account_id) or {}).get("access_token")


class Reply(FilteredStream):
    """The stream a view renders: the opened stream seen through the request's transforms, counting
    upstream errors met mid-stream and running the turn's close work once, after the upstream
    connection is released. Everything else is the inner stream's."""

    def __init__(self, stream: Any, transforms: list[Transform], turn: Turn):
        super().__init__(stream, transforms)
        self._turn = turn
        self._is_closed = False
        self.continuation = turn.mode

    def __next__(self) -> Event:
        try:
            return next(self._events)
        except KimiError as err:
            count_upstream_error(err)
            raise

    def close(self) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        try:
            super().close()
        finally:
            self._turn.after_close(self._inner)
