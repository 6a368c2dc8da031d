"""The account pool: which saved Kimi account serves the next request, and what happens to an account
that Kimi rejects, rate-limits or that needs renewing. Its state lives in the store, so every worker
(and, with Redis, every machine) sees the same leases, cooldowns and rotated tokens.
"""
from __future__ import annotations

import logging
import random
import secrets
import time
from typing import Any, Iterable, Optional

from gateway import accounts, policies
from gateway.store import Store, StoreUnavailable
from gateway.unlendable import AUTH_PAGE, LENDABLE_STATES, why_unlendable
from kimi import tokens
from kimi.errors import AuthRejected, KimiError, RateLimited, UpstreamTimeout
from kimi.refresh import AccountCalls

log = logging.getLogger(__name__)

CHAT_MEMORY_SECONDS = 24 * 3600
# The refresh lock frees itself this long after its holder died (Redis only: a file lock dies with its
# process). It outlasts the longest refresh: the RPC and the legacy GET, each 10 s to connect + 20 s to answer.
REFRESH_LOCK_SECONDS = 90
# Said with every refused chain: Kimi rotates the refresh token on each use, so two holders knock each other out.
SHARED_SESSION_NOTE = ("Logging in to Kimi in a browser with the same session (or using that session's "
                       "tokens elsewhere) can log this gateway out: import a login of its own.")


class LegacyAccount(AuthRejected):
    """The account turned out to belong to the legacy REST API: lend its refresh token instead."""


class Lease:
    """One account lent to one request; release() gives its stream slot back (once)."""

    def __init__(self, pool: "AccountPool", account_id: str, lease_id: str, record: dict[str, Any],
                 is_one_of_several: bool):
        self.pool = pool
        self.account_id = account_id
        self.lease_id = lease_id
        self.record = record  # the account as it was read when it was lent
        self.is_one_of_several = is_one_of_several  # other accounts were saved too when it was lent
        self.token: Optional[str] = accounts.lent_token(record)
        self.device_id: Optional[str] = record.get("device_id")  # the account's, for every call it makes
        self.succeeded = False  # Kimi answered on it: noted with the release, in the same store write
        self._released = False

    def release(self, chat_id: Optional[str] = None) -> None:
        if not self._released:
            self._released = True
            try:
                self.pool._release(self, chat_id)
            except StoreUnavailable:
                # Released as a stream ends, after its answer went out: the answer stands, and the
                # slot the store still counts frees itself when the lease runs out.
                log.warning("could not give account %s its stream slot back: the store is unreachable",
                            self.account_id)


class AccountPool:
    def __init__(self, store: Store, calls: AccountCalls, *, max_streams: int = 4,
                 cooldown_seconds: int = 60, lease_seconds: int = 900, refresh_wait: float = 30,
                 renew_ahead: float = accounts.RENEW_AHEAD,
                 policy: policies.AccountPolicy = policies.AccountPolicy(), interval_wait: float = 0):
        self.store = store
        self.calls = calls
        self.max_streams = max_streams  # 0: no cap
        self.cooldown_seconds = cooldown_seconds
        # A lease outlives any stream; it only matters when a worker died without releasing it.
        self.lease_seconds = lease_seconds
        self.refresh_wait = refresh_wait
        self.renew_ahead = renew_ahead  # seconds before an access token's `exp` that it is renewed
        self.policy = policy  # spacing, daily cap and circuit, each account's record may override the first two
        self.interval_wait = interval_wait  # a request waits this long at most for an account's spacing to pass
        self.clock = time.time  # what the policies read as now (a test may move it)
        self.sleep = time.sleep  # gevent's under gunicorn's worker (monkey-patched), so waiting holds no worker

    # Lending accounts

    def acquire(self, exclude: Iterable[str] = (), prefer: Optional[str] = None) -> Lease:
        """A lease on the least recently used healthy account (`prefer` first when it is healthy),
        renewed first when its token is about to expire. AuthRejected or RateLimited when none is free."""
        skipped = set(exclude)
        while True:
            lease = self._reserve_within_interval(skipped, prefer)
            record = lease.record
            if accounts.is_legacy(record) or not self.needs_refresh(record):
                return lease
            try:
                lease.token = self.renew(lease.account_id, lease.token)
                return lease
            except LegacyAccount:
                lease.token = (self.store.read("accounts").get(lease.account_id) or {}).get("refresh_token")
                return lease
            except AuthRejected:
                pass  # renew() marked it rejected
            except KimiError as err:  # the account service is unreachable: the old token may still serve
                self.note_error(lease.account_id, err.message)
                claims = accounts.access_claims(record)
                if claims and not tokens.is_expired(claims, leeway=accounts.EXPIRY_LEEWAY):
                    return lease
            lease.release()
            skipped.add(lease.account_id)

    def account_for_chat(self, chat_id: Optional[str]) -> Optional[str]:
        """The account that opened this Kimi chat: only it can continue the chat."""
        return self.store.recall("chat:" + chat_id) if chat_id else None

    def needs_refresh(self, record: dict[str, Any]) -> bool:
        return accounts.needs_refresh(record, ahead=self.renew_ahead)

    def renew(self, account_id: str, stale_token: Optional[str]) -> str:
        """A fresh access token through the refresh call, made once however many greenlets, workers and
        (with Redis) machines ask at the same moment: whoever comes second finds the token already
        changed and uses it."""
        try:
            with self.store.lock("refresh:" + account_id, timeout=self.refresh_wait, expires=REFRESH_LOCK_SECONDS):
                return self._renew_locked(account_id, stale_token)
        except TimeoutError:
            raise UpstreamTimeout("Renewing the Kimi token took too long.", code="refresh_timeout") from None

    def _renew_locked(self, account_id: str, stale_token: Optional[str]) -> str:
        record = self.store.read("accounts").get(account_id)
        if record is None or record.get("rejected") or record.get("disabled"):
            raise AuthRejected((record or {}).get("rejected") or "This account is no longer usable.",
                               code="account_unusable")
        current = record.get("access_token")
        if current and current != stale_token and accounts.access_claims(record) \
                and not self.needs_refresh(record):
            return current
        if not accounts.can_renew(record):
            raise AuthRejected("This account has no refresh token to renew its access token.",
                               code="token_expired")
        try:
            access, rotated = self.calls.refresh(record["refresh_token"])
        except AuthRejected as err:
            if accounts.can_lend_legacy(record):
                # A refresh token that never renewed here may belong to the legacy API (B.1): the two
                # APIs' refresh tokens look alike, so the Connect refusal sends it down that path.
                self._mark_legacy(account_id)
                raise LegacyAccount(err.message, code="legacy_token") from None
            # The chain is void (used elsewhere, or revoked): asking again cannot help, saving it again can.
            self.reject(account_id, f"{err.message} Save the account again on {AUTH_PAGE}. {SHARED_SESSION_NOTE}",
                        reimport=True)
            raise

        def put(records: dict) -> None:
            if account_id in records:
                accounts.apply_tokens(records[account_id], access, rotated)
                records[account_id]["refreshed_at"] = time.time()

        # Stored (durably, for the file store) before the token is used: the old refresh token may be void
        # already, so a crash after this line must not leave only the old pair behind (D.1).
        self.store.modify("accounts", put)
        log.info("renewed the Kimi tokens of account %s (%s)", account_id, tokens.describe(access))
        if not tokens.is_access_jwt(tokens.read_claims(access)):
            raise LegacyAccount("Kimi renewed this account with a legacy token.", code="legacy_token")
        return access

    def keep_rotated_refresh_token(self, old: str, new: str) -> bool:
        """Store `new` on the legacy account whose refresh token is `old`, which Kimi has just rotated
        (docs/kimi-protocol.md A.2: the old one may be void from now on). Only while the record still holds
        `old`: a worker that rotated it too, a moment later, must not overwrite the newer token.
        Returns whether an account took it; a caller's own token matches none and is not stored."""
        def swap(records: dict) -> Optional[str]:
            for record in records.values():
                if accounts.is_legacy(record) and record.get("refresh_token") == old:
                    # Kimi just accepted `old`: a rejection recorded against it (another worker racing
                    # this one to a token Kimi voids on use) no longer holds, as with any fresh pair.
                    record.update(refresh_token=new, rejected=None)
                    return record["id"]
            return None

        account_id = self.store.modify("accounts", swap)
        if account_id is not None:
            log.info("account %s got a rotated refresh token", account_id)
        return account_id is not None

    def _mark_legacy(self, account_id: str) -> None:
        def put(records: dict) -> None:
            if account_id in records:
                records[account_id]["legacy"] = True

        self.store.modify("accounts", put)
        log.info("account %s goes by the legacy REST path from now on", account_id)

    # What happened to an account

    def reject(self, account_id: str, reason: str, token: Optional[str] = None, reimport: bool = False) -> None:
        """Mark the account rejected by Kimi (unless the token it lends changed since `token` was used);
        `reimport` when its refresh token was refused, so only saving it again helps."""
        def put(records: dict) -> None:
            record = records.get(account_id)
            if record is not None and (token is None or accounts.lent_token(record) == token):
                record.update(rejected=reason[:500], rejected_at=time.time(), reimport=reimport)

        self.store.modify("accounts", put)
        self.note_error(account_id, reason, refused=True)
        log.warning("account %s rejected: %s", account_id, reason)

    def cool_down(self, account_id: str, reason: str, seconds: Optional[int] = None) -> int:
        """Rest the account after Kimi's rate limit, for `seconds` when Kimi said how long (its
        Retry-After), else ACCOUNT_COOLDOWN_SECONDS; returns the seconds it rests."""
        seconds = seconds or self.cooldown_seconds
        now = self.clock()

        def put(runtime: dict) -> bool:
            status = runtime.setdefault(account_id, {})
            status.update(cooldown_until=now + seconds, cooldown_reason=reason[:300],
                          last_error=reason[:300], last_error_at=now)
            return policies.count_refusal(status, reason, now, self.policy.circuit_refusals)

        self._say_if_opened(account_id, self.store.modify("runtime", put))
        log.info("account %s cools down for %ss: %s", account_id, seconds, reason)
        return seconds

    def note_error(self, account_id: str, message: str, refused: bool = False) -> None:
        """Keep the account's last error; `refused`: Kimi refused the account (it counts toward the circuit)."""
        now = self.clock()

        def put(runtime: dict) -> bool:
            status = runtime.setdefault(account_id, {})
            status.update(last_error=message[:300], last_error_at=now)
            return refused and policies.count_refusal(status, message, now, self.policy.circuit_refusals)

        self._say_if_opened(account_id, self.store.modify("runtime", put))

    def _say_if_opened(self, account_id: str, opened: bool) -> None:
        if opened:
            log.warning("account %s is no longer lent: Kimi refused it %d times in a row (ACCOUNT_CIRCUIT_REFUSALS); "
                        "a passing check on %s lends it again", account_id, self.policy.circuit_refusals, AUTH_PAGE)

    # Internals

    def _reserve_within_interval(self, skipped: set[str], prefer: Optional[str]) -> Lease:
        """A lease as _reserve() makes it; when only the accounts' spacing (ACCOUNT_MIN_INTERVAL) holds every
        account back for at most `interval_wait` seconds, the request waits that out once rather than failing:
        the spacing is there to pace Kimi, not to refuse callers."""
        try:
            return self._reserve(skipped, prefer)
        except RateLimited as err:
            if err.code != policies.INTERVAL or err.retry_after > self.interval_wait:
                raise
            wait = err.retry_after
        self.sleep(wait)
        return self._reserve(skipped, prefer)

    def _reserve(self, skipped: set[str], prefer: Optional[str]) -> Lease:
        now = self.clock()
        records = self.store.read("accounts")
        candidates = [r["id"] for r in records.values()
                      if r["id"] not in skipped and accounts.state_of(r, {}, now) in LENDABLE_STATES]
        policy_of = {account_id: self.policy.for_record(records[account_id]) for account_id in candidates}
        random.shuffle(candidates)  # equal last use (new accounts): no fixed favourite
        lease_id = secrets.token_hex(6)

        def take(runtime: dict) -> Optional[str]:
            ordered = sorted(candidates, key=lambda i: (i != prefer, runtime.get(i, {}).get("last_used", 0)))
            for account_id in ordered:
                status = runtime.get(account_id, {})
                streams = {k: v for k, v in status.get("streams", {}).items() if v > now}
                if status.get("cooldown_until", 0) > now or (self.max_streams and len(streams) >= self.max_streams) \
                        or policies.blocked_by(policy_of[account_id], status, now):
                    continue
                if self.max_streams:
                    streams[lease_id] = now + self.lease_seconds
                # Uncapped (ACCOUNT_MAX_STREAMS=0), open streams are not counted, so none is written down:
                # the section every request rewrites stays small however many streams one account serves.
                runtime[account_id] = {**status, "streams": streams}
                policies.count_start(runtime[account_id], now)
                return account_id
            return None

        chosen = self.store.modify("runtime", take) if candidates else None
        if chosen is None:
            raise self._unavailable(records, skipped, now)
        record = records[chosen]
        if not record.get("device_id"):
            record = {**record, "device_id": self._keep_device_id(chosen)}
        return Lease(self, chosen, lease_id, record, is_one_of_several=len(records) > 1)

    def _keep_device_id(self, account_id: str) -> Optional[str]:
        """The device id of an account saved before they were kept, made now once and stored: whichever
        worker asks first makes it, the others find it."""
        fresh = tokens.new_device_id()

        def put(records: dict) -> Optional[str]:
            record = records.get(account_id)
            if record is None:
                return None
            record["device_id"] = record.get("device_id") or fresh
            return record["device_id"]

        return self.store.modify("accounts", put)

    def _release(self, lease: Lease, chat_id: Optional[str]) -> None:
        now = self.clock()

        def put(runtime: dict) -> None:
            status = runtime.get(lease.account_id, {})
            status.get("streams", {}).pop(lease.lease_id, None)
            if lease.succeeded and status:
                policies.count_success(status, now)

        self.store.modify("runtime", put)
        # Which account holds a chat matters only when there is a choice of accounts.
        if chat_id and lease.is_one_of_several and self.account_for_chat(chat_id) != lease.account_id:
            self.store.remember("chat:" + chat_id, lease.account_id, CHAT_MEMORY_SECONDS)

    def _unavailable(self, records: dict, skipped: set[str], now: float) -> KimiError:
        """Why no account can be lent, as the error the caller gets."""
        runtime = self.store.read("runtime") if records else {}
        return why_unlendable(records, runtime, skipped, now, self.policy)
