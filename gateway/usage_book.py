"""Usage counts per hour for the owner's console: per subject (a proxy key's id, LOCAL_CALLER, OWN_TOKEN)
and per account, summed by every worker into one store hash per hour, read back as a UsageSummary.

record() only appends to this worker's buffer: one background flusher per worker writes the buffered
counts and request-log rows in one batch about once a second (and at worker exit), so a request never
waits on the store for them (issue 20).
"""
from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections import defaultdict
from typing import Callable, Iterable, Optional

from gateway.request_log import RequestLog
from gateway.store import Store
from gateway.usage import SPANS, RequestEntry, Series, Totals, UsageSummary

log = logging.getLogger(__name__)

HOUR = 3600
KEEP_SECONDS = 8 * 86400  # the counts of 8 days: the 7-day span and the day in progress
FLUSH_SECONDS = 1.0
# Entries kept for a store that cannot be reached (a Redis restart): beyond this the oldest are dropped.
MAX_UNWRITTEN = 50000
# Time to first byte is counted in quarter-octave buckets (each about 19 % wide): the median of all
# workers' requests is read from the summed bucket counts.
TTFB_STEPS_PER_DOUBLING = 4
OVERALL = "all"
_SCOPES = ("all", "key", "account")


class UsageBook:
    def __init__(self, store: Store, requests_log: Optional[RequestLog] = None, clock: Callable[[], float] = time.time,
                 flush_seconds: float = FLUSH_SECONDS):
        self.store, self.requests_log, self.clock = store, requests_log, clock
        self.flush_seconds = flush_seconds
        self._uncounted: list[RequestEntry] = []
        self._unlogged: list[RequestEntry] = []
        self._buffer_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flusher_pid = 0
        self._is_failing = False
        _BOOKS.add(self)

    def record(self, entry: RequestEntry) -> None:
        """Buffer one finished request; the flusher writes it within about a second."""
        with self._buffer_lock:
            self._uncounted.append(entry)
            if self.requests_log is not None:
                self._unlogged.append(entry)
        if self._flusher_pid != os.getpid():  # started lazily, once in each (forked) worker
            self._flusher_pid = os.getpid()
            threading.Thread(target=_flush_regularly, args=(weakref.ref(self),), daemon=True).start()

    def flush(self) -> None:
        """Write what is buffered now. A store that cannot be reached keeps it for the next flush (up to
        MAX_UNWRITTEN entries) and is reported once, with a warning, until a flush succeeds again."""
        with self._flush_lock:
            with self._buffer_lock:
                uncounted, self._uncounted = self._uncounted, []
                unlogged, self._unlogged = self._unlogged, []
            was_failing, failed = self._is_failing, False
            if uncounted and not self._write(lambda: self.store.add_counts(tally(uncounted), KEEP_SECONDS)):
                self._keep("_uncounted", uncounted)
                failed = True
            if unlogged and not self._write(lambda: self.requests_log.write(unlogged)):
                self._keep("_unlogged", unlogged)
                failed = True
            if uncounted or unlogged:
                if was_failing and not failed:
                    log.info("usage counts and the request log are written again")
                self._is_failing = failed

    def _write(self, write: Callable[[], None]) -> bool:
        try:
            write()
            return True
        except Exception as exc:  # StoreUnavailable, or a disk error of the file store
            if not self._is_failing:
                log.warning("could not write usage counts and the request log (%s); kept for the next try",
                            type(exc).__name__)
                self._is_failing = True
            return False

    def _keep(self, buffer: str, entries: list[RequestEntry]) -> None:
        with self._buffer_lock:
            kept = entries + getattr(self, buffer)
            setattr(self, buffer, kept[-MAX_UNWRITTEN:])

    def summary(self, span: str) -> UsageSummary:
        """The counts of the span ("24h": 24 hours, "7d": 7 days, the current one last) as the store holds
        them now (each worker's last second may still be in its buffer)."""
        buckets, seconds = SPANS[span]
        current = self.clock() // seconds * seconds
        starts = tuple(current - (buckets - 1 - index) * seconds for index in range(buckets))
        hours = [starts[0] + HOUR * n for n in range(int(buckets * seconds // HOUR))]
        found: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(lambda: [{} for _ in starts])
        for hour, fields in zip(hours, self.store.read_counts(map(_hash_name, hours))):
            point = int((hour - starts[0]) // seconds)
            for field, amount in fields.items():
                metric, scope, subject = field.split("|", 2)
                counts = found[(scope, subject)][point]
                counts[metric] = counts.get(metric, 0) + amount
        overall = _series(OVERALL, found.get(("all", ""), [{} for _ in starts]))
        return UsageSummary(span=span, bucket_seconds=seconds, starts=starts, overall=overall,
                            keys=_busiest(found, "key"), accounts=_busiest(found, "account"))

    def close(self) -> None:
        self.flush()


def tally(entries: Iterable[RequestEntry]) -> dict[str, dict[str, float]]:
    """The store hashes the entries add to: {hour's hash: {"metric|scope|subject": amount}}."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for entry in entries:
        fields = counts[_hash_name(entry.at // HOUR * HOUR)]
        for scope, subject in (("all", ""), ("key", entry.key_id), ("account", entry.account)):
            if scope != "all" and not subject:
                continue
            where = f"|{scope}|{subject}"
            fields["requests" + where] += 1
            fields["tokens_in" + where] += entry.tokens_in
            fields["tokens_out" + where] += entry.tokens_out
            if entry.error:
                fields["errors" + where] += 1
                fields[f"error:{entry.error}" + where] += 1
            if entry.first_byte_ms is not None:
                fields[f"ttfb:{ttfb_bucket(entry.first_byte_ms)}" + where] += 1
    return counts


def ttfb_bucket(ms: float) -> int:
    return math.floor(math.log2(max(ms, 1.0)) * TTFB_STEPS_PER_DOUBLING)


def _hash_name(hour: float) -> str:
    return f"usage:{int(hour)}"


def _busiest(found: dict[tuple[str, str], list[dict[str, float]]], scope: str) -> tuple[Series, ...]:
    series = [_series(subject, points) for (kind, subject), points in found.items() if kind == scope]
    return tuple(sorted(series, key=lambda one: (-one.totals.requests, one.subject)))


def _series(subject: str, points: list[dict[str, float]]) -> Series:
    whole: dict[str, float] = defaultdict(float)
    for counts in points:
        for metric, amount in counts.items():
            whole[metric] += amount
    return Series(subject=subject, points=tuple(map(_totals, points)), totals=_totals(whole))


def _totals(counts: dict[str, float]) -> Totals:
    return Totals(requests=int(counts.get("requests", 0)), errors=int(counts.get("errors", 0)),
                  tokens_in=int(counts.get("tokens_in", 0)), tokens_out=int(counts.get("tokens_out", 0)),
                  errors_by_kind={metric[6:]: int(amount) for metric, amount in sorted(counts.items())
                                  if metric.startswith("error:")},
                  median_first_byte_ms=_median({int(metric[5:]): amount for metric, amount in counts.items()
                                                if metric.startswith("ttfb:")}))


def _median(buckets: dict[int, float]) -> Optional[float]:
    """The middle of the bucket holding the median request (None: no request)."""
    total, passed = sum(buckets.values()), 0.0
    for bucket in sorted(buckets):
        passed += buckets[bucket]
        if passed * 2 >= total and total:
            return round(2 ** ((bucket + 0.5) / TTFB_STEPS_PER_DOUBLING), 1)
    return None


def _flush_regularly(book_ref: "weakref.ref[UsageBook]") -> None:
    # A thread (a greenlet under gunicorn's gevent worker, like the catalogue's refreshes) that ends with
    # its book: a test run builds many apps.
    while True:
        book = book_ref()
        if book is None:
            return
        seconds = book.flush_seconds
        del book
        time.sleep(seconds)
        book = book_ref()
        if book is None:
            return
        try:
            book.flush()
        except Exception:  # a bug must not end the worker's flusher silently
            log.exception("flushing usage counts failed")
        del book


_BOOKS: "weakref.WeakSet[UsageBook]" = weakref.WeakSet()


def flush_all() -> None:
    """Write every book's buffer: at worker exit (configs/gunicorn.conf.py worker_exit, and atexit)."""
    for book in list(_BOOKS):
        book.flush()


atexit.register(flush_all)
