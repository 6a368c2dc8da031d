"""Managing the saved accounts for the owner: saving pasted tokens, mirroring KIMI_TOKEN, disabling,
deleting, live checks and the token-free views shown by /auth, /auth/status and /health.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

from gateway import accounts, pasted, policies
from gateway.pool import AccountPool
from kimi import tokens
from kimi.errors import AuthRejected, BadRequest, KimiError, NotFound

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, pool: AccountPool):
        self.pool = pool
        self.store = pool.store

    def views(self) -> list[dict[str, Any]]:
        """Every account, oldest first, as accounts.view() shows it."""
        now = self.pool.clock()
        runtime = self.store.read("runtime")
        records = sorted(self.store.read("accounts").values(), key=lambda r: (r.get("added_at", 0), r["id"]))
        return [accounts.view(r, runtime.get(r["id"], {}), now) for r in records]

    def view(self, account_id: str) -> dict[str, Any]:
        record = self._get(account_id)
        return accounts.view(record, self.store.read("runtime").get(account_id, {}), self.pool.clock())

    def save(self, cookies: Optional[str], refresh_token: Optional[str], label: str = "",
             source: str = "page") -> tuple[dict[str, Any], bool]:
        """Save pasted credentials (BadRequest when unusable or expired): a token of an account already
        saved replaces that account's tokens. Returns (view, whether a new account was added)."""
        credentials = pasted.read_credentials(cookies, refresh_token)
        fresh = accounts.new_account(credentials, label, source)

        def put(records: dict) -> tuple[str, bool]:
            for record in records.values():
                if accounts.same_owner(record, credentials):
                    accounts.apply_tokens(record, credentials["access_token"], credentials["refresh_token"])
                    if label.strip():
                        record["label"] = label.strip()[:80]
                    return record["id"], False
            records[fresh["id"]] = fresh
            return fresh["id"], True

        account_id, created = self.store.modify("accounts", put)
        self._forget_cooldown(account_id)
        log.info("account %s %s (%s)", account_id, "added" if created else "updated",
                 tokens.describe(credentials["access_token"] or credentials["refresh_token"]))
        return self.view(account_id), created

    def set_policy(self, account_id: str, min_interval: Optional[float], daily_cap: Optional[int]) -> dict[str, Any]:
        """The account's own spacing and daily cap (None: ACCOUNT_MIN_INTERVAL, ACCOUNT_DAILY_CAP apply)."""
        own = {name: value for name, value in (("min_interval", min_interval), ("daily_cap", daily_cap)) if value}
        self._change(account_id, lambda record: record.update(policy=own))
        return self.view(account_id)

    def set_disabled(self, account_id: str, disabled: bool) -> dict[str, Any]:
        self._change(account_id, lambda record: record.update(disabled=disabled))
        return self.view(account_id)

    def delete(self, account_id: str) -> None:
        record = self._get(account_id)
        if record.get("source") == "env":
            raise BadRequest("This account comes from the KIMI_TOKEN setting; remove it there (or disable it).",
                             code="account_from_env")
        self.store.modify("accounts", lambda records: records.pop(account_id, None))
        log.info("account %s deleted", account_id)

    def clear(self) -> int:
        """Delete every account saved through the page or the API; returns how many."""
        def drop(records: dict) -> int:
            gone = [i for i, r in records.items() if r.get("source") != "env"]
            for account_id in gone:
                del records[account_id]
            return len(gone)

        count = self.store.modify("accounts", drop)
        self.store.sweep_temporary()  # a crashed write's leftovers may hold tokens of the cleared accounts
        log.info("cleared %d saved accounts", count)
        return count

    def check(self, account_id: str) -> dict[str, Any]:
        """Ask Kimi whether the account works now (the view plus `live`): renew it when it has no live
        access token, else probe the token. A refused token is marked rejected; a live one loses an
        earlier rejection."""
        record = self._get(account_id)
        try:
            if self.pool.needs_refresh(record) or (record.get("rejected") and accounts.can_renew(record)):
                self._change(account_id, lambda r: r.update(rejected=None))
                self.pool.renew(account_id, record.get("access_token"))
                live = True
            elif accounts.state_of(record, {}) == "expired":
                return {**self.view(account_id), "live": False}  # past its own `exp`: nothing to ask Kimi
            elif record.get("access_token"):
                live = self.pool.calls.probe(record["access_token"])
            else:
                live = False
        except AuthRejected:
            live = False  # renew() has marked it rejected
        except KimiError as err:
            self.pool.note_error(account_id, err.message)
            raise
        if live:
            self._change(account_id, lambda r: r.update(rejected=None))
            self._change_status(account_id, policies.close_circuit)  # the owner saw it work: lend it again
        elif not self._get(account_id).get("rejected"):
            self.pool.reject(account_id, "Kimi did not accept this token when it was checked.")
        return {**self.view(account_id), "live": live}

    def sync_env(self, kimi_token: str) -> None:
        """Mirror KIMI_TOKEN as accounts (source "env"): added when new, removed when no longer listed.
        Ids come from the token itself, so every worker and restart agrees, and a token renewed since
        keeps its account."""
        wanted = {accounts.env_account_id(t): t for t in tokens.split_tokens(kimi_token)}

        def put(records: dict) -> None:
            for account_id in [i for i, r in records.items() if r.get("source") == "env" and i not in wanted]:
                del records[account_id]
            for number, (account_id, token) in enumerate(wanted.items(), 1):
                if account_id not in records:
                    is_access = tokens.is_access_jwt(tokens.read_claims(token))
                    credentials = {"access_token": token if is_access else None,
                                   "refresh_token": None if is_access else token}
                    record = accounts.new_account(credentials, f"KIMI_TOKEN #{number}", "env")
                    records[account_id] = {**record, "id": account_id}

        self.store.modify("accounts", put)

    def _get(self, account_id: str) -> dict[str, Any]:
        record = self.store.read("accounts").get(account_id)
        if record is None:
            raise NotFound(f"No account {account_id!r}.", code="account_not_found")
        return record

    def _change(self, account_id: str, change) -> None:
        def put(records: dict) -> None:
            if account_id not in records:
                raise NotFound(f"No account {account_id!r}.", code="account_not_found")
            change(records[account_id])

        self.store.modify("accounts", put)

    def _forget_cooldown(self, account_id: str) -> None:
        """A fresh login: Kimi's earlier refusals were of the old tokens, so no rest and no open circuit."""
        def put(status: dict) -> None:
            status.pop("cooldown_until", None)
            status.pop("cooldown_reason", None)
            policies.close_circuit(status)

        self._change_status(account_id, put)

    def _change_status(self, account_id: str, change) -> None:
        """Change the account's runtime status (the pool's section), when it has one."""
        def put(runtime: dict) -> None:
            if runtime.get(account_id):
                change(runtime[account_id])

        self.store.modify("runtime", put)
