"""Both store backends keep the same data the same way: atomic changes, counters, remembered values,
locks and secrets; the file store is private, survives restarts and several writing processes."""
import contextlib
import json
import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.pool import AccountPool
from kimi.refresh import AccountCalls
from gateway.registry import Registry
from gateway.store import FileStore, Store
from gateway.store.file import PRUNE_EVERY, VALUES_DATABASE
from gateway.store.redis import RedisStore
from kimi.transport import Endpoints
from tests.support import ROOT
from tests.support.jwts import make_jwt
from tests.support.waiting import wait_until

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

WRITERS, WRITES_EACH = 4, 25


def open_backend(kind: str, where: str) -> Store:
    return FileStore(where) if kind == "file" else RedisStore(where)


@pytest.fixture(params=["file", "redis"])
def backend(request, tmp_path):
    """(kind, location): the tests open stores themselves, as separate workers would."""
    where = str(tmp_path / "data") if request.param == "file" else request.getfixturevalue("flushed_redis")
    return request.param, where


@pytest.fixture
def store(backend):
    opened = open_backend(*backend)
    yield opened
    opened.close()


def test_an_unwritten_section_reads_empty(store):
    assert store.read("accounts") == {}


def test_modify_returns_the_result_and_a_second_store_sees_the_change(store, backend):
    assert store.modify("accounts", lambda data: data.setdefault("a1", {"label": "one"})) == {"label": "one"}
    other = open_backend(*backend)
    assert other.read("accounts") == {"a1": {"label": "one"}}
    other.modify("accounts", lambda data: data["a1"].update(label="two"))
    assert store.read("accounts")["a1"]["label"] == "two"
    other.close()


def test_a_failing_change_leaves_the_section_as_it_was(store):
    store.modify("keys", lambda data: data.update(k="v"))

    def broken(data):
        data["k"] = "changed"
        raise ValueError("boom")

    with pytest.raises(ValueError):
        store.modify("keys", broken)
    assert store.read("keys") == {"k": "v"}


def test_read_gives_a_private_copy(store):
    store.modify("accounts", lambda data: data.update(a={"n": 1}))
    store.read("accounts")["a"]["n"] = 99
    assert store.read("accounts") == {"a": {"n": 1}}


def test_counters_count_within_a_window_and_tell_when_it_ends(store):
    assert store.peek("key:x", 60)[0] == 0
    assert [store.hit("key:x", 60)[0] for _ in range(3)] == [1, 2, 3]
    count, left = store.peek("key:x", 60)
    assert count == 3 and 0 < left <= 60
    assert store.hit("key:y", 60)[0] == 1


def test_remembered_values_come_back_until_they_expire(store):
    store.remember("chat:c1", "acct1", ttl=60)
    store.remember("chat:c2", "acct2", ttl=-1)
    assert store.recall("chat:c1") == "acct1"
    assert store.recall("chat:c2") is None and store.recall("chat:none") is None


def test_a_remembered_value_is_seen_by_another_store_and_can_be_replaced(store, backend):
    other = open_backend(*backend)
    store.remember("tip:c1", "m1", ttl=60)
    assert other.recall("tip:c1") == "m1"
    other.remember("tip:c1", "m2", ttl=60)
    assert store.recall("tip:c1") == "m2"
    other.close()


def test_values_remembered_in_one_batch_come_back_until_they_expire(store, backend):
    store.remember("tip:c1", "old", ttl=60)
    store.remember_many([("owner:c1", "key-1", 60), ("reply:r1", '["c1","m1"]', 60), ("tip:c1", "m1", 60),
                         ("tip:c2", "gone", -1)])
    other = open_backend(*backend)
    assert [other.recall(name) for name in ("owner:c1", "reply:r1", "tip:c1", "tip:c2")] == \
        ["key-1", '["c1","m1"]', "m1", None]
    other.close()


def test_a_batch_with_a_value_that_cannot_be_stored_writes_none_of_it(store):
    with pytest.raises(Exception):
        store.remember_many([("owner:c1", "key-1", 60), ("tip:c1", None, 60)])
    assert store.recall("owner:c1") is None


def test_an_empty_batch_writes_nothing(store):
    store.remember_many([])
    assert store.recall("tip:c1") is None


def _remember_many(kind: str, where: str, writer: int, start) -> None:
    opened = open_backend(kind, where)
    start.wait(30)
    for n in range(WRITES_EACH):
        opened.remember(f"tip:{writer}-{n}", f"m{n}", ttl=60)
    opened.close()


def _run_writers(backend, writer) -> None:
    """WRITERS processes, each opening its own store and running `writer` once all have started."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=writer, args=(*backend, i, start)) for i in range(WRITERS)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS


def test_values_remembered_by_several_processes_at_once_all_land(backend):
    _run_writers(backend, _remember_many)
    opened = open_backend(*backend)
    assert [opened.recall(f"tip:{w}-{n}") for w in range(WRITERS) for n in range(WRITES_EACH)] == \
        [f"m{n}" for _ in range(WRITERS) for n in range(WRITES_EACH)]
    opened.close()


def test_workers_opening_a_new_value_table_at_the_same_moment_all_write():
    # SQLite refuses all but one of several connections switching a new database to WAL at once
    # ("database is locked", without waiting out the busy timeout): before the set-up took turns, about
    # a third of these rounds had a worker fail its first write.
    done = subprocess.run([sys.executable, "-m", "tests.support.scripts.store_race", "40"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "0", done.stdout + done.stderr


def test_a_secret_is_created_once_and_then_kept(store, backend):
    assert store.ensure_secret("secret_key", lambda: "first") == ("first", True)
    assert open_backend(*backend).ensure_secret("secret_key", lambda: "second") == ("first", False)


def test_a_lock_held_elsewhere_times_out_and_is_free_after_release(store, backend):
    other = open_backend(*backend)
    held = threading.Event()
    release = threading.Event()

    def holder():
        with other.lock("refresh:a1"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(5)
    with pytest.raises(TimeoutError):
        with store.lock("refresh:a1", timeout=0.2):
            pass
    release.set()
    thread.join()
    with store.lock("refresh:a1", timeout=5):
        pass
    other.close()


def registry_on(opened: Store) -> Registry:
    return Registry(AccountPool(opened, AccountCalls(endpoints=Endpoints(refresh_url="http://127.0.0.1:9", probe_url=""))))


def _save_many(kind: str, where: str, writer: int, start) -> None:
    opened = open_backend(kind, where)
    registry = registry_on(opened)
    start.wait(30)
    for n in range(WRITES_EACH):
        registry.save(make_jwt(sub=f"writer{writer}account{n:06d}"), None, label=f"{writer}-{n}")
        opened.hit("saves", 3600)
    opened.close()


def test_concurrent_saves_from_several_processes_all_land(backend):
    _run_writers(backend, _save_many)
    opened = open_backend(*backend)
    labels = {record["label"] for record in opened.read("accounts").values()}
    assert labels == {f"{w}-{n}" for w in range(WRITERS) for n in range(WRITES_EACH)}
    assert opened.peek("saves", 3600)[0] == WRITERS * WRITES_EACH
    opened.close()


def _save_forever(kind: str, where: str) -> None:
    registry = registry_on(open_backend(kind, where))
    for n in range(100_000):
        registry.save(make_jwt(sub=f"killeduser{n:010d}"), None, label=str(n))


def test_a_process_killed_mid_save_leaves_every_saved_account_whole(store, backend):
    saver = multiprocessing.get_context("spawn").Process(target=_save_forever, args=backend)
    saver.start()
    assert wait_until(lambda: len(store.read("accounts")) >= 30, timeout=60)
    os.kill(saver.pid, signal.SIGKILL)
    saver.join(10)
    records = store.read("accounts")
    labels = sorted(int(record["label"]) for record in records.values())
    assert labels == list(range(len(labels))) and all(record["access_token"] for record in records.values())
    if backend[0] == "file":
        assert [path.name for path in Path(backend[1]).glob(".*.tmp")] == []


def test_file_store_is_private_and_its_files_are_plain_json(tmp_path):
    store = FileStore(tmp_path / "data")
    store.modify("keys", lambda data: data.update(a={"label": "x"}))
    path = tmp_path / "data" / "keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700
    assert json.loads(path.read_text()) == {"a": {"label": "x"}}
    assert [p.name for p in (tmp_path / "data").iterdir() if p.suffix == ".tmp"] == []


def test_file_store_keeps_remembered_values_private_and_sweeps_out_expired_ones(tmp_path):
    store = FileStore(tmp_path / "data")
    store.remember("tip:kept", "m1", ttl=3600)
    for n in range(PRUNE_EVERY - 1):  # the last of these writes sweeps
        store.remember(f"tip:gone{n}", "m", ttl=-1)
    database = tmp_path / "data" / VALUES_DATABASE
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT name FROM value").fetchall() == [("tip:kept",)]
    assert {stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "data").glob(VALUES_DATABASE + "*")} == {0o600}
    store.close()
    assert FileStore(tmp_path / "data").recall("tip:kept") == "m1"  # and survive a restart


def test_file_store_survives_a_restart(tmp_path):
    FileStore(tmp_path).modify("keys", lambda data: data.update(k1={"hash": "h"}))
    assert FileStore(tmp_path).read("keys") == {"k1": {"hash": "h"}}


def test_counts_add_up_per_field_across_batches_and_stores(store, backend):
    store.add_counts({"usage:1": {"requests": 2, "ttfb_ms": 1.5}, "usage:2": {"requests": 1}}, ttl=60)
    other = open_backend(*backend)
    other.add_counts({"usage:1": {"requests": 3, "ttfb_ms": 0.25, "errors": 1}}, ttl=60)
    assert store.read_counts(["usage:2", "never", "usage:1"]) == [
        {"requests": 1}, {}, {"requests": 5, "ttfb_ms": 1.75, "errors": 1}]
    other.close()


def test_counts_written_by_several_processes_at_once_all_land(backend):
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        pool.starmap(_add_counts, [(backend, WRITES_EACH)] * WRITERS)
    store = open_backend(*backend)
    assert store.read_counts(["usage:1"]) == [{"requests": WRITERS * WRITES_EACH}]
    store.close()


def _add_counts(backend, times):
    store = open_backend(*backend)
    for _ in range(times):
        store.add_counts({"usage:1": {"requests": 1}}, ttl=60)
    store.close()


def test_rows_read_back_newest_first_from_a_time_on_and_old_ones_are_dropped(store):
    store.append_rows("log", [(100.0, "a"), (101.0, "b"), (102.0, "c")], keep_seconds=1000)
    store.append_rows("other", [(101.5, "x")], keep_seconds=1000)
    assert store.read_rows("log", since=101.0, limit=10) == [(102.0, "c"), (101.0, "b")]
    assert store.read_rows("log", since=0, limit=2) == [(102.0, "c"), (101.0, "b")]
    store.append_rows("log", [(1101.0, "d")], keep_seconds=1000)  # keeps 101.0 on: exactly 1000 s older
    assert store.read_rows("log", since=0, limit=10) == [(1101.0, "d"), (102.0, "c"), (101.0, "b")]
    assert store.read_rows("other", since=0, limit=10) == [(101.5, "x")]


def test_a_log_keeps_its_newest_rows_up_to_a_count_whatever_their_age(store):
    store.append_rows("log", [(float(at), f"row {at}") for at in range(10)], keep_seconds=1000, keep_rows=4)
    assert store.read_rows("log", since=0, limit=100) == [(float(at), f"row {at}") for at in (9, 8, 7, 6)]
    store.append_rows("log", [(10.0, "row 10")], keep_seconds=1000, keep_rows=4)
    assert [at for at, _ in store.read_rows("log", since=0, limit=100)] == [10.0, 9.0, 8.0, 7.0]
    store.append_rows("other", [(1.0, "x")], keep_seconds=1000, keep_rows=4)  # another log is left alone
    assert len(store.read_rows("log", since=0, limit=100)) == 4
