"""What the fake upstreams (fake_kimi.py, fake_kimi_legacy.py, fake_kimi_auth.py) share: a ThreadingHTTPServer
on 127.0.0.1 served from a daemon thread, its lifecycle, the release event that ends responses still streaming,
and a request handler that writes whole and chunked bodies. Standard library only.
"""

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHandler(BaseHTTPRequestHandler):
    """Handles one connection for the fake set as `fake` on its per-server subclass."""

    protocol_version = "HTTP/1.1"
    # Each frame or SSE event is one small write; with Nagle on, delayed ACKs would hold them back ~40 ms.
    disable_nagle_algorithm = True
    fake = None  # the owning FakeServer, set on a per-server subclass

    def log_message(self, format, *args):
        pass  # keep test and bench output clean

    def setup(self):
        super().setup()
        self.fake._connection_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.fake._connection_closed(self.connection)

    def _send_body(self, status, body, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_chunks(self, content_type, chunks, release, delay=0.0, before_last=None):
        """Send a 200, then each item as its own HTTP chunk, `delay` seconds apart (wfile is unbuffered, so
        each leaves at once). True when all were written, False when `release` was set first (reset() or
        stop() abandoning the response). The body stays open: _end_chunks() ends it. `before_last` runs
        just before the last chunk leaves: a client may act on that chunk before this thread runs again."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if (i and delay > 0 and release.wait(delay)) or release.is_set():
                return False
            if before_last is not None and i == len(chunks) - 1:
                before_last()
            if chunk:  # an empty chunk would mean end of body
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        return True

    def _end_chunks(self, complete):
        if complete:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True  # closing without the terminator tells the client it was cut


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the bench opens many connections at once

    def handle_error(self, request, client_address):
        # A client hanging up between requests is routine here; anything else is a bug worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeServer:
    """Base of a fake upstream: serves `handler_class` on 127.0.0.1 until stop(); a with-block starts and
    stops it. Subclasses keep their records under `_lock` and end open streams with _renew_release()."""

    handler_class = FakeHandler

    def __init__(self):
        self._lock = threading.Lock()
        self._release = threading.Event()  # set to end every response still streaming or hanging
        self._server = self._thread = None
        # Connections are counted for the whole life of the server (reset() keeps them): a test compares
        # the count before and after what it does. HTTP/1.1 keeps each one open for the next request.
        self.connections_accepted = 0
        self.connections_resumed = 0  # over TLS: those whose handshake resumed an earlier TLS session
        self._connections: dict = {}  # open connection -> its number
        self.reset()

    def reset(self):
        """A subclass sets its records and behaviour here, under `_lock`; called once at construction."""

    def start(self, port=0, tls=None):
        """Bind 127.0.0.1 (a free port unless one is given) and serve in a daemon thread, over TLS when
        `tls` (a server-side ssl.SSLContext) is given; returns self."""
        handler = type("Handler", (self.handler_class,), {"fake": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self._scheme, self._server.server_address[1])

    def wait_for(self, predicate, timeout=5.0):
        """True once predicate() holds, False if it still does not after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def is_connection_open(self, number) -> bool:
        """Whether the connection accepted `number`th (from 1, in `connections_accepted` order) is open."""
        with self._lock:
            return number in self._connections.values()

    def close_connections(self):
        """Shut every open connection down, as a server does with idle ones past its keep-alive timeout."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def _connection_opened(self, connection):
        with self._lock:
            self.connections_accepted += 1
            self.connections_resumed += bool(getattr(connection, "session_reused", False))
            self._connections[connection] = self.connections_accepted

    def _connection_closed(self, connection):
        with self._lock:
            self._connections.pop(connection, None)

    def _renew_release(self):
        """End the responses still streaming (they wait on the old event); later ones get a fresh one.
        Called with `_lock` held, from reset()."""
        self._release.set()
        self._release = threading.Event()


def emptied_around(fake):
    """A test's use of a fake that outlives it (yield from this in a fixture): emptied of scripts,
    records and state before the test and after it."""
    fake.reset()
    yield fake
    fake.reset()
