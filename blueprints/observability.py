"""Request ids, one JSON access-log line per request, the Server-Timing header, one request-log entry
per API request (blueprints/request_notes.py), and Prometheus metrics at GET /metrics.

Metrics use prometheus-client's multi-process mode when PROMETHEUS_MULTIPROC_DIR is set (the
gunicorn config sets it), so every worker's counts add up in one scrape. Streamed bodies are also where
the write deadline is kept: a client that stops reading loses its stream after CLIENT_WRITE_TIMEOUT.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections import Counter as Tally
from typing import Iterable, Optional

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from blueprints.request_notes import API_BLUEPRINTS, Notes, request_entry, server_timing
from blueprints.upstream import services
from gateway import accounts
from kimi.stall import StallWatch, Watched

bp = Blueprint("observability", __name__)
access_log = logging.getLogger("access")

_REQUEST_ID = re.compile(r"^[\w.-]{1,64}$")
_TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter("kimi_gateway_requests_total", "HTTP requests answered",
                   ["route", "format", "status"])
FIRST_BYTE = Histogram("kimi_gateway_time_to_first_byte_seconds",
                       "Time from request to the first body byte (first token for streams)",
                       ["format"], buckets=_TIME_BUCKETS)
DURATION = Histogram("kimi_gateway_request_duration_seconds", "Time from request to the last body byte",
                     ["format"], buckets=_TIME_BUCKETS)
OPEN_STREAMS = Gauge("kimi_gateway_open_streams", "Streaming responses being written now",
                     multiprocess_mode="livesum")
log = logging.getLogger(__name__)


_WRITES = "kimi_gateway_writes"


def install(app: Flask, write_timeout: float) -> None:
    # gunicorn's gevent worker writes each chunk with a blocking sendall and no deadline: one watcher
    # (the one that keeps Kimi's read deadline, kimi/stall.py) cuts the sockets of writes blocked too long.
    app.extensions[_WRITES] = StallWatch(write_timeout, cut=_cut_quietly) if write_timeout else None
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        output = generate_latest(registry)
    else:
        output = generate_latest()
    pool_state = CollectorRegistry()
    pool_state.register(_AccountStates(services().registry))
    return Response(output + generate_latest(pool_state), content_type=CONTENT_TYPE_LATEST)


class _AccountStates:
    """The account pool as the shared store holds it now, read at scrape time, so every worker
    reports the same figures (no per-process gauge to add up)."""

    def __init__(self, registry):
        self._registry = registry

    def collect(self):
        family = GaugeMetricFamily("kimi_gateway_accounts", "Saved Kimi accounts by state", labels=["state"])
        counts = Tally(view["state"] for view in self._registry.views())
        for state in accounts.STATES:
            counts.setdefault(state, 0)
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)
        yield family


def current_request_id() -> str:
    return getattr(g, "request_id", "-")


def _start() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    g.started, g.arrived = time.monotonic(), time.time()


def _finish(response: Response) -> Response:
    now = time.monotonic()
    # The request and g bound once: each access through flask's proxies is a context-variable lookup.
    asked, kept = request._get_current_object(), g._get_current_object()
    headers, started = response.headers, kept.started
    headers["X-Request-Id"] = kept.request_id
    notes = kept.get("request_notes")
    headers["Server-Timing"] = server_timing((now - started) * 1000, notes, now)
    rule, blueprint = asked.url_rule, asked.blueprint
    record = _Record(_metrics(rule.rule if rule else "unmatched", blueprint or "none", response.status_code),
                     kept.request_id, asked.method, asked.path, started)
    if blueprint in API_BLUEPRINTS:
        record.usage, record.notes, record.arrived = services().usage, notes, kept.arrived
    if response.is_streamed:
        response.response = _WatchedBody(response.response, record, current_app.extensions[_WRITES],
                                         asked.environ.get("gunicorn.socket"))
        # The body is bytes already and closes itself: handed to the server as it is, without werkzeug's
        # encoding and closing wrappers, two layers fewer on every chunk of a long stream.
        response.direct_passthrough = True
    else:
        response.call_on_close(record.close)
    return response


class _Metrics:
    """The labelled series one (route, format, status) counts in, resolved once: labels() checks and
    looks up its label values under a lock on every call."""

    def __init__(self, route: str, api: str, status: int):
        self.api, self.status = api, status
        self.requests = REQUESTS.labels(route=route, format=api, status=str(status))
        self.first_byte, self.duration = FIRST_BYTE.labels(api), DURATION.labels(api)


_METRICS: dict[tuple[str, str, int], _Metrics] = {}  # a few routes x formats x statuses: bounded


def _metrics(route: str, api: str, status: int) -> _Metrics:
    found = _METRICS.get((route, api, status))
    if found is None:
        found = _METRICS[(route, api, status)] = _Metrics(route, api, status)
    return found


class _Record:
    """One request's measurements, finished when its body has been written (or abandoned)."""

    def __init__(self, metrics: _Metrics, request_id: str, method: str, path: str, started: float):
        self.metrics, self.request_id, self.method, self.path = metrics, request_id, method, path
        self.started = started
        self.first_byte_at = None
        self.usage = None  # the usage book, for an API request
        self.notes: Optional[Notes] = None
        self.arrived = 0.0

    def close(self) -> None:
        now = time.monotonic()
        first = self.first_byte_at or now
        metrics, status = self.metrics, self.metrics.status
        first_byte, duration = first - self.started, now - self.started
        metrics.requests.inc()
        metrics.first_byte.observe(first_byte)
        metrics.duration.observe(duration)
        # The path only: query strings can carry API keys (Gemini's ?key=).
        access_log.info("%s %s %s", self.method, self.path, status, extra={
            "request_id": self.request_id, "status": status, "duration_ms": round(duration * 1000, 1),
            "first_byte_ms": round(first_byte * 1000, 1)})
        if self.usage is not None:
            self.usage.record(request_entry(
                self.notes, at=self.arrived, request_id=self.request_id, method=self.method, path=self.path,
                api=metrics.api, status=status, first_byte_ms=first_byte * 1000, duration_ms=duration * 1000))


def _cut_quietly(sock: socket.socket) -> None:
    """Shut the connection down under the blocked write, through a duplicate of its descriptor: gevent's
    own shutdown() wakes the writer with "file descriptor closed in another greenlet", which gunicorn logs
    with a traceback; a write into a connection shut down elsewhere fails with EPIPE, which it ignores."""
    with socket.socket(fileno=os.dup(sock.fileno())) as duplicate:
        duplicate.shutdown(socket.SHUT_RDWR)


class _WatchedBody:
    """Passes a streamed body through, noting its first byte and when each chunk is handed to the
    server to write (until the next one is asked for); a class rather than a generator because WSGI
    servers may close the body before its first chunk, and an unstarted generator's `finally` never runs.
    A write cut at its deadline fails in gunicorn like any departed client's, and it closes this body,
    which gives the stream's account slot back."""

    def __init__(self, body: Iterable[bytes], record: _Record, deadline: Optional[StallWatch],
                 sock: Optional[socket.socket]):
        self._body, self._iterator, self._record = body, iter(body), record
        self._deadline = deadline if sock is not None else None  # no socket of gunicorn's: Flask's test client
        # `reads` counts writes here: odd while a chunk is being written.
        self._writes: Optional[Watched] = self._deadline.watch(sock) if self._deadline else None
        self._closed = False
        OPEN_STREAMS.inc()

    def __iter__(self) -> "_WatchedBody":
        return self

    def __next__(self) -> bytes:
        writes = self._writes
        if writes is not None and writes.reads & 1:
            writes.reads += 1  # the server asks for more: the last chunk is written
        chunk = next(self._iterator)
        if self._record.first_byte_at is None:
            self._record.first_byte_at = time.monotonic()
        if writes is not None:
            writes.reads += 1
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        OPEN_STREAMS.dec()
        if self._writes is not None:
            self._deadline.forget(self._writes)
        closer = getattr(self._body, "close", None)
        if closer:
            closer()
        self._record.close()
