"""The file store's accounts are a row each: a save writes the changed account alone, an older
accounts.json is adopted once, and the temporary files of cut-short writes are swept at start and by
"clear" (a process killed mid-save: tests/test_store.py, for both stores)."""
import contextlib
import sqlite3
import stat

import pytest

from gateway.pool import AccountPool
from gateway.registry import Registry
from gateway.store import FileStore
from gateway.store.file import RECORDS_DATABASE, RUNTIME_DATABASE
from kimi.refresh import AccountCalls
from kimi.transport import Endpoints
from tests.support.jwts import make_jwt


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def registry_on(store):
    return Registry(AccountPool(store, AccountCalls(endpoints=Endpoints(refresh_url="http://127.0.0.1:9", probe_url=""))))


def test_changing_one_account_writes_only_its_row(data):
    store = FileStore(data)
    store.modify("accounts", lambda records: records.update({f"a{n}": {"label": str(n)} for n in range(50)}))
    with contextlib.closing(sqlite3.connect(data / RECORDS_DATABASE)) as db:
        db.executescript("CREATE TABLE written (key TEXT);"
                         "CREATE TRIGGER on_insert AFTER INSERT ON record BEGIN INSERT INTO written VALUES (new.key); END;"
                         "CREATE TRIGGER on_delete AFTER DELETE ON record BEGIN INSERT INTO written VALUES (old.key); END;")
    store.modify("accounts", lambda records: records["a7"].update(label="seven"))
    store.modify("accounts", lambda records: records.pop("a9"))
    with contextlib.closing(sqlite3.connect(data / RECORDS_DATABASE)) as db:
        assert [key for (key,) in db.execute("SELECT key FROM written")] == ["a7", "a9"]
    assert store.read("accounts")["a7"] == {"label": "seven"} and "a9" not in store.read("accounts")
    assert not (data / "accounts.json").exists()
    assert {stat.S_IMODE(path.stat().st_mode) for path in data.glob(RECORDS_DATABASE + "*")} == {0o600}


def test_an_older_accounts_file_is_adopted_once(data):
    data.mkdir()
    (data / "accounts.json").write_text('{"a1": {"label": "kept"}}')
    assert FileStore(data).read("accounts") == {"a1": {"label": "kept"}}
    assert not (data / "accounts.json").exists()
    FileStore(data).modify("accounts", lambda records: records.update(a2={"label": "new"}))
    assert FileStore(data).read("accounts") == {"a1": {"label": "kept"}, "a2": {"label": "new"}}


def test_the_runtime_status_is_a_row_per_account_written_without_a_sync(data):
    """Changed twice per lent request (the lease taken and given back): no file made and renamed, no fsync."""
    store = FileStore(data)
    store.modify("runtime", lambda runtime: runtime.update(a1={"streams": {"l1": 9e9}}, a2={"last_used": 5}))
    store.modify("runtime", lambda runtime: runtime["a1"]["streams"].pop("l1"))
    assert FileStore(data).read("runtime") == {"a1": {"streams": {}}, "a2": {"last_used": 5}}
    assert not (data / "runtime.json").exists()
    with contextlib.closing(sqlite3.connect(data / RUNTIME_DATABASE)) as db:
        assert sorted(key for (key,) in db.execute("SELECT key FROM record WHERE section = 'runtime'")) == ["a1", "a2"]
    # PRAGMA synchronous is per connection: the store's own are the ones that say it.
    assert store._records["runtime"]._db._synchronous == "OFF" and store._records["accounts"]._db._synchronous == "FULL"


def test_an_older_runtime_file_is_adopted(data):
    data.mkdir()
    (data / "runtime.json").write_text('{"a1": {"cooldown_until": 9999999999}}')
    assert FileStore(data).read("runtime") == {"a1": {"cooldown_until": 9999999999}}
    assert not (data / "runtime.json").exists()


def test_temporary_files_of_cut_short_writes_are_swept_at_start(data):
    data.mkdir()
    leftovers = [data / ".accounts.x1y2z3w4.tmp", data / ".keys.abcdefgh.tmp", data / ".runtime.q_9rst_u.tmp"]
    for path in leftovers:
        path.write_text('{"a1": {"access_token": "secret"}}')
    FileStore(data)
    assert [path for path in leftovers if path.exists()] == []


def test_clearing_the_accounts_sweeps_temporary_files(data):
    store = FileStore(data)
    registry = registry_on(store)
    registry.save(make_jwt(sub="clearuser00000000001"), None, label="one")
    leftover = data / ".accounts.k3j4h5g6.tmp"
    leftover.write_text('{"a1": {"access_token": "secret"}}')
    assert registry.clear() == 1
    assert not leftover.exists() and store.read("accounts") == {}
