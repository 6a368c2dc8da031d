"""The read deadline of open answers, kept by one watcher for all of them instead of a timer per read.

A socket with a timeout makes gevent arm and disarm a timer around every wait for data: 2.5 to 4 µs of
CPU per read (`python -m bench.micro`), against ~50 µs per upstream read in all. An answer's socket
therefore loses its timeout once the response head is in; its reader counts the starts and ends of its
reads instead, and one background thread (a greenlet under gevent) looks at the counts every `tick`
seconds. A stream that has waited inside one read for `timeout` seconds is marked stalled and its
connection shut down, which wakes its reader with end-of-file; the reader sees the mark and reports a
timeout rather than a cut connection. Time spent outside a read (writing to a slow client) never counts
against Kimi, as with a socket timeout.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any, Callable, Iterator, Optional

log = logging.getLogger(__name__)


class Watched:
    """One stream's side: its reader adds one to `reads` as a read starts and one as it ends (odd: waiting
    for Kimi), and checks `stalled` when a read fails or finds the end."""

    __slots__ = ("sock", "reads", "stalled", "_seen", "_quiet_since")

    def __init__(self, sock: Optional[socket.socket], now: float):
        self.sock = sock
        self.reads = 0
        self.stalled = False
        self._seen = 0
        self._quiet_since = now


@contextlib.contextmanager
def watching(stalls: Optional["StallWatch"], response: Any) -> Iterator[Watched]:
    """While inside, `stalls` keeps the read deadline of the socket under a `requests` response (urllib3's
    raw response holds http.client's, whose buffered file keeps the socket as SocketIO's `_sock`); on
    the way out the stream is forgotten. Without a watch, or for a test double without a socket, the
    socket keeps its own timeout and the Watched given is never checked."""
    reader = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    sock = getattr(getattr(reader, "raw", None), "_sock", None)
    if stalls is None or not hasattr(sock, "settimeout"):
        yield Watched(None, 0.0)
        return
    watched = stalls.watch(sock)
    try:
        yield watched
    finally:
        stalls.forget(watched)


class StallWatch:
    """Cuts the connections of streams that read nothing for `timeout` seconds (within one `tick` more)."""

    def __init__(self, timeout: float, tick: Optional[float] = None,
                 cut: Optional[Callable[[socket.socket], None]] = None):
        self.timeout = timeout
        self._cut = cut or _shut_down
        self.tick = tick if tick is not None else min(1.0, max(0.05, timeout / 4))
        self._watched: set[Watched] = set()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def watch(self, sock: socket.socket) -> Watched:
        """Take over the read deadline of `sock`: from now on its reads never time out by themselves."""
        watched = Watched(sock, time.monotonic())
        sock.settimeout(None)
        with self._lock:
            self._watched.add(watched)
            if self._thread is None:
                # Started on first use, so it lives in the worker process (never in a gunicorn master).
                self._thread = threading.Thread(target=self._run, name="kimi-stall-watch", daemon=True)
                self._thread.start()
        return watched

    def forget(self, watched: Watched) -> None:
        with self._lock:
            self._watched.discard(watched)

    def check(self, now: float) -> list[Watched]:
        """Mark and cut the streams waiting in one read since `now - timeout`; returns them (the thread's
        one step)."""
        with self._lock:
            current = list(self._watched)
        stalled = []
        for watched in current:
            if watched.reads != watched._seen or not watched.reads & 1:
                watched._seen, watched._quiet_since = watched.reads, now
            elif now - watched._quiet_since >= self.timeout:
                watched.stalled = True
                stalled.append(watched)
        for watched in stalled:
            self.forget(watched)
            try:
                self._cut(watched.sock)
            except OSError:
                pass  # closed by its reader in the meantime: nothing left to cut
        return stalled

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            try:
                self.check(time.monotonic())
            except Exception:  # the watcher must outlive any one stream's oddity
                log.exception("checking open streams for stalls failed")


def _shut_down(sock: socket.socket) -> None:
    sock.shutdown(socket.SHUT_RDWR)
