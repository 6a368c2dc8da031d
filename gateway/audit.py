"""The audit log of the owner's actions: logins (and failed ones, with the client's address), logouts, accounts
saved, disabled, enabled, deleted or cleared, keys created and revoked, and policy changes noted by their pages.

Admin actions are rare, so the whole log is one store section, a list trimmed on each write to the last
AUDIT_LOG_DAYS and at most MAX_ENTRIES. An entry never holds a password, token or key: only what was done
to which id, and a short detail (a label, the path of a failed password check).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from gateway.store import Store

SECTION = "audit"
MAX_ENTRIES = 2000  # a cap for a flood of failed logins; the owner's own actions never come near it
DETAIL_CHARS = 200


@dataclass(frozen=True)
class AuditEntry:
    at: float  # epoch seconds
    action: str  # login, login_failed, logout, account_saved, key_created, ... (see strings audit_action_*)
    target: str = ""  # the account or key id acted on, "" when none
    detail: str = ""
    client: str = ""  # the admin's address as the gateway saw it (after trusted proxies)


class AuditLog:
    def __init__(self, store: Store, days: float, max_entries: int = MAX_ENTRIES):
        self.store, self.keep_seconds, self.max_entries = store, days * 86400, max_entries

    def note(self, action: str, target: str = "", detail: str = "", client: str = "") -> None:
        """Add one entry, dropping those past the kept time and the oldest beyond the cap."""
        entry = asdict(AuditEntry(time.time(), action, str(target or ""), str(detail or "")[:DETAIL_CHARS],
                                  client or ""))
        self.store.modify(SECTION, lambda section: section.update(entries=self._trimmed(section, entry)))

    def entries(self, limit: int = 200) -> list[AuditEntry]:
        """The newest `limit` entries still kept, newest first."""
        since = time.time() - self.keep_seconds
        kept = [AuditEntry(**entry) for entry in self.store.read(SECTION).get("entries", []) if entry["at"] >= since]
        return kept[::-1][:limit]

    def _trimmed(self, section: dict[str, Any], entry: dict[str, Any]) -> list[dict[str, Any]]:
        since = entry["at"] - self.keep_seconds
        kept = [old for old in section.get("entries", []) if old["at"] >= since]
        return [*kept, entry][-self.max_entries:]
