"""Fake Kimi upstream: a real Connect-over-HTTP server on 127.0.0.1, scripted per test (tests, bench).

Standard library only and independent of the gateway's `kimi` package, so it cannot share its bugs.
"""

import argparse
import itertools
import json
import re
import select
import signal
import socket
import struct
import threading
import time
import uuid
from collections import deque, namedtuple
from datetime import datetime, timezone

from tests.support import KIMI_FIXTURES
from tests.support.fake_kimi_quota import QuotaRoutes
from tests.support.fake_kimi_uploads import UploadRoutes
from tests.support.fake_server import FakeHandler, FakeServer

# Both Chat paths are live (docs/kimi-protocol.md A.1: S2A saw the kimi.chat.v1 package in 2026-09).
CHAT_PATHS = {"/apiv2/kimi.gateway.chat.v1.ChatService/Chat", "/apiv2/kimi.chat.v1.ChatService/Chat"}
DELETE_CHAT_PATH = "/apiv2/kimi.chat.v1.ChatService/DeleteChat"
MODELS_PATH = "/apiv2/kimi.gateway.config.v1.ConfigService/GetAvailableModels"
PROBE_PATH = "/apiv2/kimi.gateway.order.v1.SubscriptionService/GetSubscription"  # the account check
FIXTURES = KIMI_FIXTURES

RecordedRequest = namedtuple("RecordedRequest", "path headers body raw")


class Headers(dict):
    """Request headers; keys are stored lower-cased so lookups ignore case."""

    def __init__(self, items):
        super().__init__((key.lower(), value) for key, value in items)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


def encode_envelope(flags, payload):
    """One Connect envelope (A.4): flags byte, 4-byte big-endian length, compact UTF-8 JSON."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return bytes([flags]) + struct.pack(">I", len(data)) + data


def decode_request(raw):
    """The JSON object inside a single uncompressed envelope, or None when the body is not one."""
    if len(raw) < 5 or raw[0] != 0 or struct.unpack(">I", raw[1:5])[0] != len(raw) - 5:
        return None
    try:
        body = json.loads(raw[5:].decode())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def load_fixture(name):
    """(flags, payload) pairs of a fixture file (format: tests/fixtures/kimi/README.md)."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [(row["flags"], row["message"]) for row in map(json.loads, filter(str.strip, lines))]


def _error_trailer(code, message=None):
    error = {"code": code} if message is None else {"code": code, "message": message}
    return (2, {"error": error})


def _split_words(text):
    """Pieces of three words (each keeping its trailing space); joined they give `text` back exactly."""
    words = re.split(r"(?<=\s)(?=\S)", text)
    return ["".join(words[i:i + 3]) for i in range(0, len(words), 3)]


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _answer_frames(chat, user_msg, assistant, think_pieces, text_pieces):
    """The frame order of docs/kimi-protocol.md A.6 for one turn (chat.name is left out)."""
    offsets = itertools.count(1)

    def patch(op, mask, **container):
        return (0, {"op": op, "mask": mask, "eventOffset": next(offsets), **container})

    def block(kind, block_id, pieces):
        first = {"id": block_id, "parentId": "", "messageId": assistant["id"], kind: {"content": pieces[0]}}
        yield patch("set", f"block.{kind}", block=first)
        for piece in pieces[1:]:
            yield patch("append", f"block.{kind}.content", block={"id": block_id, kind: {"content": piece}})

    yield (0, {"heartbeat": {}})
    yield patch("set", "chat" if "name" in chat else "chat.lastRequest", chat=chat)
    yield patch("set", "message", message=user_msg)
    yield patch("set", "message", message=assistant)
    if think_pieces:
        yield from block("think", "1_0", think_pieces)
    yield from block("text", "1_1" if think_pieces else "1_0", text_pieces)
    status = {"id": assistant["id"], "role": "assistant", "status": "MESSAGE_STATUS_COMPLETED"}
    yield patch("set", "message.status", message=status)
    yield (0, {"done": {}})
    yield (2, {})


class _Handler(UploadRoutes, QuotaRoutes, FakeHandler):
    def do_POST(self):
        raw = self._read_body()
        if self.path in CHAT_PATHS:
            self._chat(raw)
        elif self.path == DELETE_CHAT_PATH:
            self._delete_chat(raw)
        elif self.path == MODELS_PATH:
            self._available_models(raw)
        elif self.path == PROBE_PATH:
            self._probe()
        elif not self._upload_route(raw) and not self._quota_route(raw):
            self._not_found(raw)

    def _not_found(self, raw=b""):
        self.fake._record(self.path, self.headers, None, raw)
        self._send_body(404, json.dumps({"code": "not_found", "message": f"no route {self.path}"}).encode())

    do_GET = _not_found

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # skip chunked trailers
        return b"".join(parts)

    def _probe(self):
        # GetSubscription, the account check: kept apart from `requests`, which record the chat's own calls.
        token = self.headers.get("Authorization", "")[7:]
        self.fake.probes.append(token)
        status = 401 if token in self.fake.rejected_tokens else 200
        self._send_body(status, json.dumps({"subscription": {}} if status == 200 else {"code": "unauthenticated"}).encode())

    def _delete_chat(self, raw):
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        self.fake._record(self.path, self.headers, body, raw)
        gate, status = self.fake.delete_gate, self.fake.delete_status
        if gate is not None:
            gate.wait(10)  # a slow DeleteChat: the test opens the gate
        if status != 200:
            self._send_body(status, b'{"code":"internal","message":"cannot delete now"}')
            return
        if not isinstance(body, dict) or "chat_id" not in body:
            self._send_body(400, b'{"code":"invalid_argument","message":"chat_id is required"}')
            return
        self.fake._delete(body["chat_id"])
        self._send_body(200, b"{}")

    def _available_models(self, raw):
        """The catalogue a test gave this token (catalogue_for); tokens without one get a 404, so the
        gateways of other tests keep their model table."""
        token = self.headers.get("Authorization", "")[len("Bearer "):]
        with self.fake._lock:
            self.fake.catalogue_requests.append(token)
            answer = self.fake.catalogues.get(token)
        if answer is None:
            self._send_body(404, b'{"code":"not_found","message":"no catalogue for this token"}')
        else:
            self._send_body(200, json.dumps(answer).encode())

    def _chat(self, raw):
        self.body = decode_request(raw)
        self.fake._record(self.path, self.headers, self.body, raw)
        kind, options = self.fake._next_behaviour()
        self.release = self.fake._release  # captured: reset()/stop() set it to end this response
        self.fake._count_stream(+1)
        try:
            if self.body is None:  # Kimi rejects bare JSON with an in-stream error (A.4)
                self._stream_frames([_error_trailer("invalid_argument", "body is not an envelope")])
            else:
                getattr(self, "_do_" + kind)(**options)
        except OSError:  # BrokenPipe, ConnectionReset: the client went away; nothing left to tell it
            self.close_connection = True
        finally:
            self.fake._count_stream(-1)

    def _do_echo(self, delay, thinking_text):
        self._stream_frames(self.fake._answer(self, None, thinking_text), delay)

    def _do_long_answer(self, n_frames, delay):
        pieces = [""] + [f"word{i} " for i in range(n_frames)]  # an empty `set` opens the block, as in A.6
        self._stream_frames(self.fake._answer(self, pieces, None), delay)

    def _do_replay(self, name, delay, split):
        envelopes = [encode_envelope(*frame) for frame in load_fixture(name)]
        if split:
            data = b"".join(envelopes)
            envelopes = [data[i:i + split] for i in range(0, len(data), split)]
        self._stream(envelopes, delay)

    def _do_cut(self, after_frames, fixture):
        envelopes = [encode_envelope(*frame) for frame in load_fixture(fixture)]
        chunks = envelopes[:after_frames]
        if after_frames < len(envelopes):
            chunks.append(envelopes[after_frames][:len(envelopes[after_frames]) // 2])
        self._stream(chunks, finish=False)

    def _do_stall(self, after_frames, seconds, fixture):
        envelopes = [encode_envelope(*frame) for frame in load_fixture(fixture)]
        self._stream(self._then_wait(envelopes[:after_frames], seconds), finish=False)

    def _then_wait(self, chunks, seconds):
        yield from chunks
        # Silent with the connection open until the client gives up on it (or reset/stop, or `seconds`).
        deadline = time.monotonic() + seconds
        while not self.release.wait(0.05) and time.monotonic() < deadline:
            if select.select([self.connection], [], [], 0)[0] and not self.connection.recv(1, socket.MSG_PEEK):
                return

    def _do_hang(self, seconds):
        self.release.wait(seconds)
        self.close_connection = True  # no status line was sent, so the connection is unusable

    def _stream_frames(self, frames, delay=0.0):
        self._stream((encode_envelope(flags, payload) for flags, payload in frames), delay)

    _do_frames, _do_raw = _stream_frames, FakeHandler._send_body  # scripted options are named like their arguments

    def _stream(self, chunks, delay=0.0, finish=True):
        """Each item as its own HTTP chunk; `finish=False` cuts the connection without the end marker."""
        sent = self._send_chunks("application/connect+json", chunks, self.release, delay)
        self._end_chunks(finish and sent)


class FakeKimi(FakeServer):
    """A scripted fake of Kimi's Chat and DeleteChat endpoints; unscripted Chat requests are echoed."""

    handler_class = _Handler

    def __init__(self):
        # The records exist before the base calls reset(), which empties them in place: tests may hold them.
        self._script = deque()
        self.requests, self.deleted_chats, self.chats = [], [], {}
        self.uploads, self.files = {}, {}  # object name -> (bytes, content type); file id -> file object
        self.rejected_tokens = set()
        self.catalogues, self.catalogue_requests = {}, []  # token -> GetAvailableModels answer; tokens asked for
        self.probes = []  # the tokens GetSubscription was asked about
        self.quotas, self.quota_requests = {}, []  # token -> GetSubscriptionStats answer; tokens asked for
        self.quota_gate = None
        self.open_streams = 0
        super().__init__()

    def reset(self):
        """Forget script, records, chats and rejected tokens; end hanging or still-streaming responses."""
        with self._lock:
            self._renew_release()
            for record in (self._script, self.requests, self.deleted_chats, self.chats, self.rejected_tokens,
                           self.uploads, self.files, self.catalogues, self.catalogue_requests, self.probes,
                           self.quotas, self.quota_requests):
                record.clear()
            if self.quota_gate is not None:
                self.quota_gate.set()  # held quota calls end now (fake_kimi_quota.py)
            self.quota_gate = None
            self.delete_gate, self.delete_status = None, 200  # DeleteChat waits on the gate; answers the status
            # The 2026 uploads (fake_kimi_uploads.py): served unless missing; each parse-progress answer
            # takes the next scripted status, then `progress_after` (SUCCESS unless a test stalls it).
            self.new_uploads_missing = False
            self.progress_statuses, self.progress_after = deque(), "PROCESS_STATUS_SUCCESS"
            self.max_open_streams = self.open_streams

    # Scripting: each Chat request takes the next behaviour; an empty queue means echo.

    def _push(self, kind, **options):
        with self._lock:
            self._script.append((kind, options))
        return self

    def catalogue_for(self, token, name="get_available_models_response.json"):
        """Answer GetAvailableModels for `token` with a fixture (the same for free and paid accounts: Kimi
        marks paid entries with minMembershipLevel, B.2.1)."""
        with self._lock:
            self.catalogues[token] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        return self

    def quota_for(self, token, name="subscription_stats_free.json"):
        """Answer GetSubscriptionStats for `token` with a fixture (fake_kimi_quota.py)."""
        with self._lock:
            self.quotas[token] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        return self

    def hold_quota(self):
        """Every GetSubscriptionStats call from now on waits, unanswered, until the test ends."""
        with self._lock:
            self.quota_gate = threading.Event()
        return self

    def replay(self, name, delay=0.0, split=None):
        return self._push("replay", name=name, delay=delay, split=split)

    def frames(self, frames, delay=0.0):
        return self._push("frames", frames=list(frames), delay=delay)

    def echo(self, delay=0.0, thinking_text=None):
        return self._push("echo", delay=delay, thinking_text=thinking_text)

    def long_answer(self, n_frames=1000, delay=0.02):
        return self._push("long_answer", n_frames=n_frames, delay=delay)

    def http_error(self, status, body=b'{"code":"internal","message":"boom"}',
                   content_type="application/json", headers=None):
        """Answer the next chat with this status; `headers` adds to the answer's (e.g. Retry-After)."""
        extra = {"headers": headers} if headers else {}
        return self._push("raw", body=body, status=status, content_type=content_type, **extra)

    def cut(self, after_frames=3, fixture="plain_text.jsonl"):
        return self._push("cut", after_frames=after_frames, fixture=fixture)

    def hang(self, seconds=30):
        return self._push("hang", seconds=seconds)

    def stall(self, after_frames=6, seconds=30, fixture="plain_text.jsonl"):
        """Send the fixture's first frames, then nothing with the connection open."""
        return self._push("stall", after_frames=after_frames, seconds=seconds, fixture=fixture)

    def raw(self, bytes_body, status=200, content_type="application/connect+json"):
        return self._push("raw", body=bytes_body, status=status, content_type=content_type)

    def parse_progress(self, *statuses, then="PROCESS_STATUS_SUCCESS"):
        """The statuses GetFileParseProgress answers, one per call, and `then` after them."""
        with self._lock:
            self.progress_statuses.extend(statuses)
            self.progress_after = then
        return self

    # Called from handler threads.

    def _next_progress(self):
        with self._lock:
            return self.progress_statuses.popleft() if self.progress_statuses else self.progress_after

    def _next_behaviour(self):
        with self._lock:
            return self._script.popleft() if self._script else ("echo", {"delay": 0.0, "thinking_text": None})

    def _record(self, path, headers, body, raw):
        with self._lock:
            self.requests.append(RecordedRequest(path, Headers(headers.items()), body, raw))

    def _delete(self, chat_id):
        with self._lock:
            self.deleted_chats.append(chat_id)
            self.chats.pop(chat_id, None)  # continuing a deleted chat then fails, as it would on Kimi

    def _count_stream(self, step):
        with self._lock:
            self.open_streams += step
            self.max_open_streams = max(self.max_open_streams, self.open_streams)

    def _answer(self, handler, text_pieces, thinking_text):
        """Frames answering handler.body: auth and chat-memory checks first, as Kimi does (A.11)."""
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] in self.rejected_tokens:
            return [_error_trailer("unauthenticated")]
        body = handler.body
        message = body.get("message") if isinstance(body.get("message"), dict) else {}
        blocks = message.get("blocks") or [{}]
        prompt = str(((blocks[0] or {}).get("text") or {}).get("content", ""))
        chat_id = body.get("chat_id") or body.get("chatId")
        parent_id = message.get("parent_id") or message.get("parentId")
        user_id, assistant_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self._lock:
            if chat_id and chat_id not in self.chats:
                return [_error_trailer("not_found", "chat not found")]
            # Any assistant message of the chat may be the parent: a turn after an earlier one branches,
            # as editing or regenerating on kimi.com does (messages list `children_message_ids`).
            if chat_id and parent_id and parent_id not in {t["assistant_id"] for t in self.chats[chat_id]}:
                return [_error_trailer("invalid_argument", "parent_id does not match")]
            if not chat_id:
                chat_id = str(uuid.uuid4())
                chat = {"id": chat_id, "name": "Untitled Chat", "createTime": _now()}
            else:
                chat = {"id": chat_id}
            turn = {"user_text": prompt, "parent_id": parent_id, "assistant_id": assistant_id}
            files = [b["file"].get("id") for b in blocks[1:] if isinstance((b or {}).get("file"), dict)]
            if files:  # attached uploads (A.13), in block order
                turn["files"] = files
            self.chats.setdefault(chat_id, []).append(turn)
        scenario = body.get("scenario", "SCENARIO_K2D5")
        common = {"scenario": scenario, "createTime": _now()}
        user_msg = {"id": user_id, "parentId": parent_id or "", "role": "user",
                    "status": "MESSAGE_STATUS_COMPLETED", **common,
                    "blocks": [{"id": "0_0", "messageId": user_id, "text": {"content": prompt}}]}
        assistant = {"id": assistant_id, "parentId": user_id, "role": "assistant",
                     "status": "MESSAGE_STATUS_GENERATING", **common}
        is_thinking = (body.get("options") or {}).get("thinking") is True
        think = _split_words(thinking_text or f"Thinking about: {prompt}") if is_thinking else None
        return _answer_frames(chat, user_msg, assistant, think, text_pieces or _split_words(prompt))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args(argv).port
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    fake = FakeKimi().start(port)
    print("READY", fake.url, flush=True)
    stopped.wait()
    fake.stop()


if __name__ == "__main__":
    main()
