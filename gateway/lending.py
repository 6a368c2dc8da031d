"""Opening a chat on an account lent by the pool: one retry before the first byte when Kimi rejects or
overloads the account (renewed, or another account); the turn gives the lease back when its reply
closes, and notes a mid-stream refusal on the account (note_stream_error)."""
from __future__ import annotations

from typing import Callable, Optional

from gateway import accounts
from gateway.metrics import count_upstream_error
from gateway.pool import AccountPool, Lease
from kimi import tokens
from kimi.errors import AuthRejected, KimiError, Overloaded, RateLimited
from kimi.events import AnswerStream, ChatRequest

# Errors from the client's own pre-send check: the token is past its `exp`, Kimi never saw it.
_LOCAL_REFUSALS = {"token_expired", "invalid_token"}

Opener = Callable[[ChatRequest, tokens.Credential], AnswerStream]


def open_pooled(open_chat: Opener, chat_for: Callable[[Lease], ChatRequest], pool: AccountPool,
                prefer: Optional[str], cool_down: bool = True) -> tuple[AnswerStream, Lease]:
    """The chat opened on a lent account; `chat_for(lease)` says what to send on that account (a
    continuation only on the account that holds the chat). With `cool_down` off, an account Kimi
    overloads is only skipped, not rested: the caller tries another model on it next (fallback)."""
    lease = pool.acquire(prefer=prefer)
    retried = False
    while True:
        try:
            stream = open_chat(chat_for(lease), tokens.credential(lease.token, lease.device_id))
            lease.succeeded = True  # resets the account's refusals in a row when the lease goes back
            return stream, lease
        except (AuthRejected, RateLimited) as err:
            if retried:
                lease.release()
                if cool_down or not isinstance(err, Overloaded):
                    note_refusal(pool, lease, err)
                raise
            count_upstream_error(err)  # counted here: the caller sees only the last error
            retried = True  # nothing reached the client yet: one more try, renewed or elsewhere
            lease = _after_rejection(pool, lease, err) if isinstance(err, AuthRejected) \
                else _after_overload(pool, lease, err, cool_down)
        except BaseException:
            lease.release()
            raise


def note_refusal(pool: AccountPool, lease: Lease, err: KimiError) -> None:
    """Record on the account why Kimi refused it, when no retry is left."""
    lease.succeeded = False  # a refusal mid-answer: the answer's start was no success after all
    if isinstance(err, RateLimited):
        err.retry_after = pool.cool_down(lease.account_id, err.message, err.kimi_retry_after)
    elif err.code not in _LOCAL_REFUSALS:
        pool.reject(lease.account_id, err.message, token=lease.token)


def _after_rejection(pool: AccountPool, lease: Lease, err: AuthRejected) -> Lease:
    """Renew the rejected account's token when it can renew itself, else retire it and take another.
    When the account lends another token by now (another worker renewed it, or stored the refresh
    token Kimi rotated, voiding the one this lease holds), that token is tried first."""
    record = pool.store.read("accounts").get(lease.account_id) or {}
    current = accounts.lent_token(record)
    if current and current != lease.token and not record.get("rejected"):
        lease.token = current
        return lease
    if accounts.can_renew(record) and not accounts.is_legacy(record):
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


def _after_overload(pool: AccountPool, lease: Lease, err: RateLimited, cool_down: bool) -> Lease:
    """Rest the overloaded account and take another; when none is free, the caller gets Kimi's 429
    with the sooner of the rest and the pool's own wait as Retry-After."""
    lease.release()
    if not cool_down and isinstance(err, Overloaded):
        try:
            return pool.acquire(exclude={lease.account_id})
        except KimiError:
            raise err from None  # the fallback model is tried next, on every account again
    rest = pool.cool_down(lease.account_id, err.message, err.kimi_retry_after)
    try:
        return pool.acquire(exclude={lease.account_id})
    except KimiError as pool_err:
        waits = [rest] + ([pool_err.retry_after] if isinstance(pool_err, RateLimited) and pool_err.retry_after else [])
        err.retry_after = min(waits)
        raise err from None


def note_stream_error(lease: Lease, err: KimiError) -> None:
    """Record on the account an error Kimi gave in mid-stream."""
    if isinstance(err, (AuthRejected, RateLimited)):
        note_refusal(lease.pool, lease, err)
    else:
        lease.pool.note_error(lease.account_id, err.message)
