"""One request's trip to Kimi once its access is chosen: which chat and parent it goes to (native
continuation), which model serves it when Kimi is overloaded (fallback), what happens to its events
on the way (filters, tool calls, thinking), and what happens when the reply closes (chat hygiene, the
lent account given back, metrics). blueprints/upstream.py opens one per request.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Optional

from gateway import policies
from gateway.access import AcceptedTokens, Access, StreamHold, token_ref
from gateway.catalogue import ModelCatalogue
from gateway.continuation import ContinuationMap, Entry, history_mode
from gateway.conversations import ChatOwners, ConversationMemory, Item
from gateway.filters import Transform, limit_answer, record_answer, stop_at_sequences
from gateway.hygiene import ChatJanitor
from gateway.lending import note_stream_error, open_pooled
from gateway.metrics import count_unknown_kinds, count_upstream_error
from gateway.pool import AccountPool, Lease
from gateway.reply import Reply
from gateway.reply_ids import ReplyIds, new_reply_key
from kimi import tokens
from kimi.errors import KimiError, NotFound, Overloaded
from kimi.events import AnswerStream, ChatRequest, Finished
from kimi.router import UpstreamRouter
from kimi.tools import recognize_tool_calls

log = logging.getLogger(__name__)

RECORDED_REASONS = ("stop", "tool_calls")  # a cut answer ("length", a stop sequence) is not what Kimi holds


@dataclass(frozen=True)
class TurnSettings:
    """What every turn shares, built once by the composition root (gateway/services.py)."""

    continuations: Optional[ContinuationMap]  # None: NATIVE_CONTINUATION off
    janitor: Optional[ChatJanitor]  # None: DELETE_CHATS off
    fallbacks: dict[str, tuple[str, ...]]
    thinking: Optional[Transform]
    owners: ChatOwners
    accepted: AcceptedTokens
    catalogue: Optional[ModelCatalogue] = None  # None: the model table alone
    reply_ids: Optional[ReplyIds] = None  # None: reply ids are not kept (conversation ids are chat ids)


class Turn:
    """One request on its way to Kimi: who asks (the access's `caller`), where the turn goes (`mode`:
    native, folded or new) and on which account, and what the reply's end leaves to do."""

    def __init__(self, chat: ChatRequest, access: Access, settings: TurnSettings, router: UpstreamRouter,
                 pool: AccountPool, hold: Optional[StreamHold] = None):
        self.access, self.settings, self.router, self.pool = access, settings, router, pool
        self.chat = self._resolved(chat)
        self.hold = hold  # the proxy key's stream, given back with the account's
        self.reply_key = new_reply_key()  # the formats' reply ids are spelt around it
        self.upstream_chat_id: Optional[str] = self.chat.conversation_id  # the chat Kimi is sent to
        self.is_reply_remembered = False
        self.own = access.own  # the caller's own credential; None: an account lent by the pool
        # The pool's accounts are taken for Connect accounts here, as they always were.
        self.is_connect = self.own is None or self.own.is_connect
        self.mode = "native" if chat.conversation_id else history_mode(chat.messages)
        self.entry: Optional[Entry] = None
        self.account: Optional[str] = None  # the pool account id, or token_ref() of an own token
        self.lease: Optional[Lease] = None
        self.remembered_until: Optional[float] = None
        self.stream: Optional[AnswerStream] = None  # the opened stream, once open() has returned
        self._claimed: Optional[str] = None  # the chat id recorded as this caller's
        # The tips of this turn's answer, held from open to Finished to go in the turn's own writes.
        self._tips: Optional[ConversationMemory] = settings.continuations.tips if self.may_continue else None
        self._held_tips: dict[str, str] = {}
        if self.may_continue:
            self._find_entry()

    def _resolved(self, chat: ChatRequest) -> ChatRequest:
        """The request with a reply id sent as its conversation turned into that reply's chat and
        message (so a turn continues, or branches, from exactly there)."""
        if not chat.conversation_id or self.settings.reply_ids is None:
            return chat
        chat_id, message_id = self.settings.reply_ids.resolve(chat.conversation_id)
        return replace(chat, conversation_id=chat_id, parent_id=chat.parent_id or message_id)

    @property
    def may_continue(self) -> bool:
        """Whether this turn's history may go to a remembered chat, and its answer be remembered."""
        return bool(self.settings.continuations) and self.is_connect and not self.chat.conversation_id

    def _find_entry(self) -> None:
        try:
            entry = self.settings.continuations.find(self.access.caller, self.chat.messages, self.chat.tools)
        except Exception as exc:  # the store is down: fold, as for a history seen for the first time
            log.warning("could not look up a continuation: %s", type(exc).__name__)
            return
        if entry is not None and self.own:
            # Of several comma-separated tokens, the one whose account holds the chat.
            match = next((c for c in self.access.presented if token_ref(c.token) == entry.account), None)
            if match is None:
                return
            self.own = match
        self.entry = entry

    # Opening

    def open(self) -> Reply:
        """The reply, after overload fallback and native continuation have had their say (KimiError
        before any byte is sent)."""
        if self._tips is not None:  # the answer's tip goes with this turn's own writes (_keep)
            self._tips.hold(self._held_tips)
        try:
            if self.chat.conversation_id:  # body, X-Conversation-Id or previous_response_id alike
                self.settings.owners.check(self.chat.conversation_id, self.access.caller,
                                           is_own_account=self.own is not None)
            self.stream, position = self._open_chain()
        except KimiError as err:
            count_upstream_error(err)
            raise
        finally:
            if self.stream is None:  # nothing opened: the key's stream is free again at once
                self._release_hold()
                self._let_go_tips()
        # One write before the first byte: the chat's owner, and the reply id (Kimi names the answer's
        # message before its first delta, so the id resolves before the caller could send it back; a
        # stream's close runs only after its last byte left), with the tip of an answer read whole.
        self._keep(self._claim_items(self.stream.chat_id) + self._reply_items(self.stream)
                   + self._tips_items(), self.stream.chat_id)
        # Never a silent downgrade: a reply a fallback model gave names the overloaded one it stands for.
        return Reply(self.stream, self._transforms(), continuation=self.mode, on_error=self._on_stream_error,
                     on_close=self._after_close, reply_key=self.reply_key, chat_id=self.upstream_chat_id,
                     fallback_from=self.chat.model if position else None)

    def _open_chain(self) -> tuple[AnswerStream, int]:
        """The stream, and its model's position in the chain (0: the model asked for)."""
        chain = self._model_chain()
        for position, model_id in enumerate(chain):
            is_last = position == len(chain) - 1
            # A fallback model brings its own thinking and effort defaults: thinking is what was overloaded.
            attempt = self.chat if position == 0 else replace(self.chat, model=model_id, thinking=None,
                                                              reasoning_effort=None)
            try:
                return self._open_model(attempt, cool_down=is_last), position
            except Overloaded as err:
                if is_last:
                    raise
                count_upstream_error(err)
                log.info("Kimi is overloaded for %s; falling back to %s", model_id, chain[position + 1])
        raise AssertionError("unreachable: the chain is never empty")

    def _model_chain(self) -> list[str]:
        """The model asked for, then its OVERLOAD_FALLBACK models that the caller's key may use."""
        model_id = self.router.models.resolve(self.chat.model).id
        resolve = lambda name: self.router.models.resolve(name).id  # noqa: E731
        fallbacks = [fallback for fallback in self.settings.fallbacks.get(model_id, ())
                     if policies.is_model_allowed(self.access.allowed_models, fallback, resolve)]
        return [model_id, *fallbacks]

    def _open_model(self, attempt: ChatRequest, cool_down: bool) -> AnswerStream:
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

    def _open_once(self, attempt: ChatRequest, cool_down: bool) -> AnswerStream:
        if self.own:
            self.account = token_ref(self.own.token)
            if self.own.is_connect and attempt.newest_attachments:
                self.settings.accepted.require(self.own.token)
            return self._open_on(self._upstream_chat(attempt, self.account), self.own)
        prefer = self.entry.account if self.entry else self.pool.account_for_chat(self.chat.conversation_id)
        stream, self.lease = open_pooled(self._open_on,
                                         lambda lease: self._upstream_chat(attempt, lease.account_id),
                                         self.pool, prefer, cool_down)
        self.account = self.lease.account_id
        return stream

    def _open_on(self, chat: ChatRequest, credential: tokens.Credential) -> AnswerStream:
        """The chat opened with this account's catalogue entry for its model, when one is kept."""
        catalogue = self.settings.catalogue
        model = catalogue.spec_for(credential, chat.model) if catalogue else None
        return self.router.open_chat(chat, credential, model)

    def _upstream_chat(self, attempt: ChatRequest, account: str) -> ChatRequest:
        """What Kimi is sent on this account: only the new turns, into the remembered chat, when the
        account holds it; else the request as it came (its history folded into a new chat)."""
        if self.entry is not None and self.entry.account == account:
            self.mode = "native"
            self.upstream_chat_id = self.entry.chat_id
            return replace(attempt, conversation_id=self.entry.chat_id)
        if not self.chat.conversation_id:
            self.mode = history_mode(self.chat.messages)
        self.upstream_chat_id = self.chat.conversation_id
        return attempt

    # Between Kimi and the format

    def _transforms(self) -> list[Transform]:
        """What happens to the neutral events between Kimi and the format, for this request."""
        chat, transforms = self.chat, []
        if chat.max_tokens:  # innermost: a cut inside a <tool_call> element leaves it as text
            transforms.append(limit_answer(chat.max_tokens))
        if chat.tools:
            transforms.append(lambda events: recognize_tool_calls(events, chat.tools, chat.tool_choice))
        if any(chat.stop):  # after tool recognition: a stop sequence inside a <tool_call> never cuts the call
            transforms.append(stop_at_sequences(chat.stop))
        # Thinking shown as text (inline) never becomes a tool call nor meets a stop sequence.
        if self.settings.thinking is not None:
            transforms.append(self.settings.thinking)
        # Outermost: the answer recorder sees what the caller sees, when this turn may be continued natively.
        if self.may_continue:
            transforms.append(record_answer(self._record))
        return transforms

    def _record(self, text: str, calls: tuple, finished: Finished) -> None:
        # Before Finished is rendered: the answer's tip (Kimi's client told it just now) and the
        # continuation entry, in one write; no tip comes after Finished.
        items = self._let_go_tips()
        chat_id, message_id = self.stream.chat_id, self.stream.message_id
        until = None
        if finished.reason in RECORDED_REASONS and chat_id and message_id:
            entry, until = self.settings.continuations.entry_item(
                self.access.caller, self.chat.messages, self.chat.tools, text, calls, chat_id, message_id,
                self.account)
            items.append(entry)
        if self._keep(items, chat_id):  # else the next turn folds, and hygiene deletes the chat soon
            self.remembered_until = until

    def _on_stream_error(self, err: KimiError) -> None:
        if self.lease is not None:
            note_stream_error(self.lease, err)
        count_upstream_error(err)

    # When the reply closes

    def _after_close(self, stream: AnswerStream) -> None:
        try:
            if self.lease is not None:
                self.lease.release(stream.chat_id)
        finally:
            self._release_hold()
            count_unknown_kinds(stream.unknown_kinds)
            # A chat id that came only after the answer's head, the legacy path's reply id (it names no
            # message), and the tip of an answer abandoned before its Finished went out.
            self._keep(self._claim_items(stream.chat_id) + self._reply_items(stream, is_final=True)
                       + self._let_go_tips(), stream.chat_id)
            self._plan_deletion(stream.chat_id)

    def _reply_items(self, stream: AnswerStream, is_final: bool = False) -> list[Item]:
        """Link the reply id to its chat and message once both are known (at open, else at close,
        where the legacy path, which names no message, links the chat alone)."""
        # Kimi may not name a continued chat again (docs/kimi-protocol.md): it is the one the turn went to.
        chat_id = stream.chat_id or self.upstream_chat_id
        if self.is_reply_remembered or self.settings.reply_ids is None or not chat_id:
            return []
        if not (stream.message_id or is_final):
            return []
        self.is_reply_remembered = True
        return [self.settings.reply_ids.item(self.reply_key, chat_id, stream.message_id or "")]

    def _claim_items(self, chat_id: Optional[str]) -> list[Item]:
        """The chat's owner, once per chat id the turn learns."""
        if not chat_id or chat_id == self._claimed:
            return []
        self._claimed = chat_id
        return [self.settings.owners.claim_item(chat_id, self.access.caller)]

    def _tips_items(self) -> list[Item]:
        return self._tips.take(self._held_tips) if self._tips is not None else []

    def _let_go_tips(self) -> list[Item]:
        return self._tips.let_go(self._held_tips) if self._tips is not None else []

    def _keep(self, items: list[Item], chat_id: Optional[str]) -> bool:
        """Write what the turn remembers at one moment, in one store call; False when the store failed."""
        if not items:
            return True
        try:
            self.settings.owners.store.remember_many(items)  # every helper keeps its values in this store
            return True
        except Exception as exc:  # the store is down: the answer still goes out; continuing it will be refused
            log.warning("could not remember chat %s (its owner, reply id or continuation): %s", chat_id,
                        type(exc).__name__)
            return False

    def _release_hold(self) -> None:
        if self.hold is None:
            return
        try:
            self.hold.release()
        except Exception as exc:  # the store is down: the hold runs out by itself (STREAM_HOLD_SECONDS)
            log.warning("could not give back a key's stream hold: %s", type(exc).__name__)

    def _plan_deletion(self, chat_id: Optional[str]) -> None:
        janitor = self.settings.janitor
        if janitor is None or not self.is_connect or not chat_id:
            return
        try:
            if self.chat.conversation_id or self.chat.keep_conversation:
                if self.settings.continuations:
                    janitor.keep(chat_id)  # a deletion planned by an earlier stateless turn is off
            elif self.remembered_until:
                janitor.delete_at(chat_id, self._token_source(), self.remembered_until)
            elif self.mode != "native":  # a chat this turn created, now answered (or abandoned)
                janitor.delete_soon(chat_id, self._token_source())
            # A continued chat whose new turn failed keeps the deletion its last answer planned.
        except Exception as exc:
            log.warning("could not plan the deletion of chat %s: %s", chat_id, type(exc).__name__)

    def _token_source(self) -> Callable[[], Optional[tokens.Credential]]:
        if self.own:
            own = self.own
            return lambda: own
        # A pool account's token may be renewed before the deletion: read the current one then, with the
        # device id its chats were sent with.
        store, account_id = self.pool.store, self.account

        def current() -> Optional[tokens.Credential]:
            record = store.read("accounts").get(account_id) or {}
            token = record.get("access_token")
            return tokens.Credential(token, tokens.read_claims(token), record.get("device_id")) if token else None
        return current
