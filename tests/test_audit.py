"""The audit log (gateway/audit.py) on a real file store: newest first, trimmed to its days and its cap."""
import time

import pytest

from gateway.audit import SECTION, AuditEntry, AuditLog
from gateway.store import FileStore


@pytest.fixture
def store(tmp_path):
    store = FileStore(tmp_path)
    yield store
    store.close()


def test_entries_come_back_newest_first_with_what_was_noted(store):
    log = AuditLog(store, days=90)
    log.note("login", client="10.0.0.7")
    log.note("key_created", "k1", "ci")
    newest, oldest = log.entries()
    assert (newest.action, newest.target, newest.detail, newest.client) == ("key_created", "k1", "ci", "")
    assert (oldest.action, oldest.client) == ("login", "10.0.0.7")
    assert newest.at >= oldest.at and abs(newest.at - time.time()) < 60


def test_entries_older_than_the_kept_days_are_dropped_on_the_next_note_and_hidden_before(store):
    old = {"at": time.time() - 3 * 86400, "action": "login", "target": "", "detail": "", "client": ""}
    store.modify(SECTION, lambda section: section.update(entries=[old]))
    log = AuditLog(store, days=2)
    assert log.entries() == []
    log.note("logout")
    assert [entry["action"] for entry in store.read(SECTION)["entries"]] == ["logout"]


def test_the_log_keeps_at_most_its_cap(store):
    log = AuditLog(store, days=90, max_entries=3)
    for n in range(5):
        log.note("login_failed", detail=str(n))
    assert [entry.detail for entry in log.entries()] == ["4", "3", "2"]
    assert len(store.read(SECTION)["entries"]) == 3


def test_a_long_detail_is_cut_and_the_limit_counts_from_the_newest(store):
    log = AuditLog(store, days=90)
    log.note("note", detail="x" * 500)
    log.note("other")
    assert [entry.action for entry in log.entries(limit=1)] == ["other"]
    assert log.entries()[1] == AuditEntry(log.entries()[1].at, "note", "", "x" * 200, "")
