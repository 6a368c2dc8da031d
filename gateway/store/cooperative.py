"""Waits for another process and disk flushes that leave a gevent worker's event loop free.

Under gunicorn's gevent worker one process serves every stream from one event loop, so a call that
blocks inside C stands all of them still: SQLite's own busy handler sleeping 1, 2, 5, 10 ... ms while
another worker holds the write lock, a blocking flock, an fsync. gevent patches `time.sleep` into a
cooperative sleep, so the waits here try without blocking and sleep with it between tries; an fsync is
handed to gevent's thread pool, whose thread waits for the disk while the loop runs on. Outside gevent
(tests, scripts) the same code simply sleeps and flushes in the calling thread.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

# Another process holds these locks for one small write (a SQLite commit: ~0.05-0.2 ms); the pause grows
# so that a long hold (a durable save waiting for the disk) is not polled thousands of times.
FIRST_PAUSE_SECONDS = 0.0002
LONGEST_PAUSE_SECONDS = 0.005


class Pauses:
    """Growing pauses between tries of something another process holds, for up to `timeout` seconds
    (None: as long as it takes)."""

    def __init__(self, timeout: Optional[float]):
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._pause = FIRST_PAUSE_SECONDS

    def wait(self) -> bool:
        """Sleep before the next try; False, without sleeping, once the time is up."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return False
        time.sleep(self._pause)  # looked up on each call: gevent's worker has patched it by then
        self._pause = min(self._pause * 2, LONGEST_PAUSE_SECONDS)
        return True


def off_the_loop(work: Callable[..., T], *args) -> T:
    """`work(*args)` in gevent's thread pool when this process runs gevent's patched threading (the
    calling greenlet waits, the loop does not); in the calling thread otherwise. For calls that release
    the GIL while they wait for the disk (os.fsync, a SQLite commit), and are rare: the hand-off costs
    ~0.1 ms of CPU."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return work(*args)
    import gevent
    return gevent.get_hub().threadpool.apply(work, args)
