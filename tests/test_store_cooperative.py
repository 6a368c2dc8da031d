"""The file store under gevent, as gunicorn's worker runs it: waiting for another worker's lock and for
the disk never stands the event loop (every other stream of the worker) still."""
import json
import subprocess
import sys

from tests.support import ROOT


def test_the_store_leaves_the_event_loop_free_while_it_waits():
    done = subprocess.run([sys.executable, "-m", "tests.support.scripts.store_under_gevent"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    # Another process held the values table's write lock, or a section's file lock: the loop ticked all
    # the while, and each write landed once the lock was let go. (SQLite's own busy handler slept inside
    # the library, loop and all, and failed after its 5 s before the first tick; a blocking flock waited,
    # loop and all, until the holder gave up after its 10 s, also before the first tick.)
    assert (seen["database"], seen["section"], seen["written"]) == \
        ({"ticks_when_written": 20, "error": None}, {"ticks_when_written": 20, "error": None}, ["v", 1])
    # A durable key section's file and folder fsyncs and the accounts' commit (synchronous=FULL) ran
    # in another thread; the runtime section's commit, which never waits for the disk, on the loop.
    assert seen["on_the_loop"] == {"fsync": [False, False], "accounts": [False], "runtime": [True]}
