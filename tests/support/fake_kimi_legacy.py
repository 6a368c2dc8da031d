"""Fake legacy Kimi upstream (docs/kimi-protocol.md part B): a real REST + SSE server on 127.0.0.1, scripted
per test. Standard library only and independent of the gateway's `kimi` package.
"""

import json
from collections import deque, namedtuple

from tests.support import KIMI_FIXTURES
from tests.support.fake_kimi_legacy_routes import Routes
from tests.support.fake_server import FakeHandler, FakeServer

FIXTURES = KIMI_FIXTURES
RecordedRequest = namedtuple("RecordedRequest", "method path headers body")


def load_sse(name):
    """The event objects of a legacy_sse_*.txt fixture, in wire order."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


class _Handler(FakeHandler):
    def _route(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw and not self.path.startswith("/upload/") else None
        except ValueError:
            body = None
        self.fake._record(method, self.path, self.headers, body if body is not None else raw)
        try:
            self.fake._serve(self, method, body, raw)
        except OSError:
            self.close_connection = True  # the client went away

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._route("DELETE")

    def send_json(self, status, obj, content_type="application/json"):
        data = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode()
        self._send_body(status, data, content_type)

    def send_stream(self, chunks, release, delay=0.0, finish=True, hold=False, before_last=None):
        """Each chunk as its own HTTP chunk; `release` (reset/stop) abandons the stream. `finish=False`
        cuts the connection without the end marker; `hold` keeps it open until released first."""
        sent = self._send_chunks("text/event-stream; charset=utf-8", chunks, release, delay, before_last)
        if hold:
            release.wait(60)
        self._end_chunks(finish and sent and not hold)


class FakeKimiLegacy(Routes, FakeServer):
    """Refresh, user, chat create/delete, completion stream, research usage and the upload steps.
    Unscripted completions echo the prompt; scripts are consumed one per completion request."""

    handler_class = _Handler

    def reset(self):
        """Forget scripts, records and state; end any stream still open."""
        with self._lock:
            self._renew_release()
            self._script = deque()
            self.requests = []
            self.refresh_calls = self.user_calls = 0
            self.refresh_delay = 0.0
            self.access_ttl = 3600
            self.users = {}  # refresh token -> user id (any unknown token is a new user)
            # Each refresh hands out a new refresh token (A.2); with void_used_refresh the one used
            # is refused from then on, as Kimi may do.
            self.rotate_refresh, self.void_used_refresh = True, False
            self.issued_refresh = []  # the rotated refresh tokens handed out, oldest first
            self.access = {}  # access token -> user id
            self.rejected_refresh, self.revoked_access = set(), set()
            self.chats, self.created_chats, self.deleted_chats = {}, [], []
            self.streaming_chats = set()
            self.completions = []  # (chat id, body) per completion request
            self.research_usage = {"remain": 3, "total": 3, "used": 0}
            self.uploads, self.files = {}, {}  # object name -> (bytes, content type); file id -> file object
            self.parse_behaviour = "parsed"  # or "failed", "hang"

    def paths(self, method=None):
        return [r.path for r in self.requests if method in (None, r.method)]

    # Scripting the completion stream.

    def _push(self, kind, **options):
        with self._lock:
            self._script.append((kind, options))
        return self

    def replay(self, name, split=None, delay=0.0):
        return self._push("events", events=load_sse(name), split=split, delay=delay)

    def events(self, events, split=None, delay=0.0, finish=True):
        return self._push("events", events=list(events), split=split, delay=delay, finish=finish)

    def length_cut(self, pieces):
        """Answer in len(pieces) segments: each but the last ends with `length` (B.3)."""
        for i, piece in enumerate(pieces):
            self._push("segment", text=piece, is_cut=i < len(pieces) - 1)
        return self

    def error(self, error_type, message="", after_text=None):
        return self._push("error", error_type=error_type, message=message, after_text=after_text)

    def http_error(self, status, body):
        return self._push("http", status=status, body=body)

    def json_error(self, error_type, message=""):
        """HTTP 200 with a JSON failure body instead of a stream (B.5)."""
        return self._push("http", status=200, body={"error_type": error_type, "message": message})

    def hold(self, text="Holding"):
        """Send one piece of text, then keep the stream open until reset()."""
        return self._push("hold", text=text)

    # Records, called from handler threads.

    def _record(self, method, path, headers, body):
        with self._lock:
            self.requests.append(RecordedRequest(method, path, {k.lower(): v for k, v in headers.items()}, body))

    def _next_script(self):
        with self._lock:
            return self._script.popleft() if self._script else ("echo", {})

