"""Run by tests/test_store_cooperative.py in a process of its own, patched by gevent as gunicorn's worker
is: does the file store leave the event loop free while it waits for another process's lock, and do its
durable writes wait for the disk off the loop? Prints one JSON object of what it saw."""
from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import gevent  # noqa: E402

from gateway.store import FileStore  # noqa: E402
from gateway.store.file import VALUES_DATABASE  # noqa: E402

TICKS = 20
# Another worker in the middle of a write: it holds a database's write lock, or a section's file lock,
# until told to let go on stdin, or for 10 s (a loop that stood still cannot tell it).
HOLDERS = {
    "database": """
import select, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("HELD", flush=True)
select.select([sys.stdin], [], [], 10)
db.execute("ROLLBACK")
""",
    "section": """
import fcntl, select, sys
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("HELD", flush=True)
select.select([sys.stdin], [], [], 10)
""",
}
real_thread = monkey.get_original("threading", "get_ident")
loop_thread = real_thread()


def ticks_while_another_process_holds_the_lock(store: FileStore, held: str, path: str, write) -> dict:
    """`write()` in a greenlet while another process holds `held`: how many ticks of the loop had passed
    when it was done (all of them: it waited for the lock, which is let go after the last)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDERS[held], path],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "HELD"
    state = {"ticks": 0, "ticks_when_written": None, "error": None}

    def write_and_count() -> None:
        try:
            write()
        except Exception as exc:  # reported to the test
            state["error"] = type(exc).__name__
        state["ticks_when_written"] = state["ticks"]

    writer = gevent.spawn(write_and_count)
    for _ in range(TICKS):  # other streams of the worker: each tick needs the loop to run
        gevent.sleep(0.01)
        state["ticks"] += 1
    holder.communicate("go\n", timeout=30)  # only now may the write land
    writer.join(30)
    return {"ticks_when_written": state["ticks_when_written"], "error": state["error"]}


def threads_that_waited_for_the_disk(store: FileStore) -> dict:
    """Which thread ran each fsync of a durable file section and each COMMIT of the record tables."""
    seen = {"fsync": [], "accounts": [], "runtime": []}
    fsync = os.fsync

    def watched_fsync(fd):
        seen["fsync"].append(real_thread() == loop_thread)
        fsync(fd)

    os.fsync = watched_fsync
    for section in ("accounts", "runtime"):
        with store._records[section]._db.connection() as db:  # the store's own connection, to watch it
            db.set_trace_callback(lambda sql, section=section: sql == "COMMIT" and seen[section].append(
                real_thread() == loop_thread))
    store.modify("keys", lambda keys: keys.update(k1={"name": "one"}))
    store.modify("accounts", lambda accounts: accounts.update(a1={"label": "one"}))
    store.modify("runtime", lambda runtime: runtime.update(a1={"leases": 1}))
    os.fsync = fsync
    return {"on_the_loop": seen}


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = FileStore(directory)
        store.remember("tip:warm", "w", ttl=60)  # the table exists and this process's connection is open
        seen = {"database": ticks_while_another_process_holds_the_lock(
                    store, "database", os.path.join(directory, VALUES_DATABASE),
                    lambda: store.remember("tip:waited", "v", ttl=60)),
                "section": ticks_while_another_process_holds_the_lock(
                    store, "section", os.path.join(directory, ".counters.lock"),
                    lambda: store.hit("calls", 60))}
        seen["written"] = [store.recall("tip:waited"), store.peek("calls", 60)[0]]
        seen.update(threads_that_waited_for_the_disk(store))
        store.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
