"""Shared view helpers: reading a JSON body once, and opening a Kimi chat for the caller, on the
caller's own token or on an account lent by the pool (with failover before the first byte)."""
from __future__ import annotations

from typing import Any, Iterator, Optional

import orjson
from flask import current_app, request

from blueprints.access import Keyring, choose_access
from kimi import accounts
from kimi.client import ChatStream
from kimi.errors import AuthRejected, BadRequest, KimiError, RateLimited
from kimi.events import ChatRequest, Event
from kimi.filters import Transform, apply_filters
from kimi.pool import AccountPool, Lease
from kimi.router import UpstreamRouter
from kimi.tools import recognize_tool_calls

# Errors from the client's own pre-send check: the token is past its `exp`, Kimi never saw it.
_LOCAL_REFUSALS = {"token_expired", "invalid_token"}


def upstream() -> UpstreamRouter:
    return current_app.extensions["kimi_client"]


def settings() -> dict:
    return current_app.config["SETTINGS"]


def account_pool() -> AccountPool:
    return current_app.extensions["account_pool"]


def keyring() -> Keyring:
    return current_app.extensions["keyring"]


def json_body() -> Any:
    """The parsed request body; BadRequest when it is not JSON."""
    raw = request.get_data(cache=False)
    if not raw:
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


def open_events(chat: ChatRequest, credential: Optional[str]) -> ChatStream:
    """Choose the Kimi token for this caller and open the chat (KimiError before any byte is sent).

    Every format continues a Kimi chat from its body's `conversation_id` or, for SDKs that cannot
    add body fields, from an `X-Conversation-Id` request header; `X-Keep-Conversation: true` asks
    that a new chat be kept for later turns even where the gateway would delete it.
    """
    if not chat.conversation_id:
        chat.conversation_id = request.headers.get("X-Conversation-Id") or None
    if request.headers.get("X-Keep-Conversation", "").strip().lower() in ("1", "true", "yes"):
        chat.keep_conversation = True
    access = choose_access(credential, request.remote_addr, keyring())
    if access.own_token:
        stream = upstream().open_chat(chat, access.own_token)
    else:
        stream = _open_pooled(chat, account_pool())
    return apply_filters(stream, event_filters(chat))


def event_filters(chat: ChatRequest) -> list[Transform]:
    """What happens to the neutral events between Kimi and the format, for this request."""
    transforms: list[Transform] = []
    if chat.tools:
        transforms.append(lambda events: recognize_tool_calls(events, chat.tools, chat.tool_choice))
    return transforms


def _open_pooled(chat: ChatRequest, pool: AccountPool) -> "PooledStream":
    # A continued chat lives in the account that opened it, so that account is asked first.
    lease = pool.acquire(prefer=pool.account_for_chat(chat.conversation_id))
    retried = False
    while True:
        try:
            return PooledStream(upstream().open_chat(chat, lease.token), lease)
        except (AuthRejected, RateLimited) as err:
            if retried:
                lease.release()
                _note_refusal(pool, lease, err)
                raise
            retried = True  # nothing reached the client yet: one more try, renewed or elsewhere
            lease = _after_rejection(pool, lease, err) if isinstance(err, AuthRejected) \
                else _after_overload(pool, lease, err)
        except BaseException:
            lease.release()
            raise


def _note_refusal(pool: AccountPool, lease: Lease, err: KimiError) -> None:
    """Record on the account why Kimi refused it, when no retry is left."""
    if isinstance(err, RateLimited):
        err.retry_after = pool.cool_down(lease.account_id, err.message)
    elif err.code not in _LOCAL_REFUSALS:
        pool.reject(lease.account_id, err.message, token=lease.token)


def _after_rejection(pool: AccountPool, lease: Lease, err: AuthRejected) -> Lease:
    """Renew the rejected account's token when it can renew itself, else retire it and take another."""
    record = pool.store.read("accounts").get(lease.account_id) or {}
    if accounts.can_renew(record):
        try:
            lease.token = pool.renew(lease.account_id, lease.token)
            return lease
        except AuthRejected:
            pass  # renew() marked the account rejected with Kimi's reason
        except KimiError as renew_err:
            pool.note_error(lease.account_id, renew_err.message)
    elif err.code not in _LOCAL_REFUSALS:
        pool.reject(lease.account_id, err.message, token=lease.token)
    lease.release()
    return pool.acquire(exclude={lease.account_id})


def _after_overload(pool: AccountPool, lease: Lease, err: RateLimited) -> Lease:
    """Rest the overloaded account and take another; when none is free, the caller gets Kimi's 429
    with the sooner of the rest and the pool's own wait as Retry-After."""
    lease.release()
    rest = pool.cool_down(lease.account_id, err.message)
    try:
        return pool.acquire(exclude={lease.account_id})
    except KimiError as pool_err:
        waits = [rest] + ([pool_err.retry_after] if isinstance(pool_err, RateLimited) and pool_err.retry_after else [])
        err.retry_after = min(waits)
        raise err from None


class PooledStream:
    """A ChatStream on a lent account: close() also gives the account's stream slot back, and an error
    in mid-stream is noted on the account. Everything else is the ChatStream's own."""

    def __init__(self, stream: ChatStream, lease: Lease):
        self._stream = stream
        self._lease = lease

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        try:
            return next(self._stream)
        except KimiError as err:
            self._note(err)
            raise

    def _note(self, err: KimiError) -> None:
        pool, account_id = self._lease.pool, self._lease.account_id
        if isinstance(err, (AuthRejected, RateLimited)):
            _note_refusal(pool, self._lease, err)
        else:
            pool.note_error(account_id, err.message)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._lease.release(self._stream.chat_id)


def conversation_headers(events: ChatStream) -> dict[str, str]:
    """Every reply names its Kimi chat, so any client can continue it."""
    return {"X-Conversation-Id": events.chat_id or ""}


STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
