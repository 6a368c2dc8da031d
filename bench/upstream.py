"""A lean fake Kimi upstream for the benchmark: asyncio, one process, the Connect framing and frame
order of tests/support/fake_kimi.py. The workload rides in the prompt: "bench frames=N delay_ms=D".
Connections stay open for the next request unless the request says `Connection: close` (as Kimi's
servers do); `GET /stats` answers how many connections carried a Chat request, and how many requests.
With --tls-cert/--tls-key it also listens over TLS on a second port (the handshakes are then priced in).
"""
from __future__ import annotations

import argparse
import asyncio
import re
import json
import signal
import ssl
import uuid

import uvloop

from tests.support.fake_kimi import _answer_frames, encode_envelope

WORKLOAD = re.compile(rb"frames=(\d+) delay_ms=(\d+)")
CLOSE = re.compile(rb"(?i)\r\nconnection:\s*close")
RESPONSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/connect+json\r\n"
                 b"Transfer-Encoding: chunked\r\n%s\r\n")
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# With no delay, frames leave BURST at a time in one write (each still its own HTTP chunk): the fake must
# outrun one gateway worker, or the CPU-bound figures would measure the fake.
BURST = 32
_PREAMBLE = 5  # heartbeat, chat, user message, assistant message, the empty `set` opening the block


def _chunk(flags: int, payload: dict) -> bytes:
    """One frame as its own HTTP chunk: Kimi's frames each leave in a write of their own."""
    envelope = encode_envelope(flags, payload)
    return b"%x\r\n%s\r\n" % (len(envelope), envelope)


def _answer() -> tuple[list[bytes], list[bytes]]:
    """Preamble and tail of one answer, with fresh chat and message ids per stream as Kimi's have."""
    chat = {"id": str(uuid.uuid4()), "name": "Bench", "createTime": "2026-01-01T00:00:00.000Z"}
    user = {"id": str(uuid.uuid4()), "role": "user", "status": "MESSAGE_STATUS_COMPLETED"}
    assistant = {"id": str(uuid.uuid4()), "parentId": user["id"], "role": "assistant",
                 "status": "MESSAGE_STATUS_GENERATING"}
    frames = [_chunk(*frame) for frame in _answer_frames(chat, user, assistant, None, [""])]
    return frames[:_PREAMBLE], frames[_PREAMBLE:] + [b"0\r\n\r\n"]


# Connections that carried a Chat request, Chat requests, and (over TLS) connections whose handshake resumed
# an earlier TLS session.
STATS = {"connections": 0, "requests": 0, "resumed": 0}
_CONTENT: list[bytes] = []  # content frame i of every answer, rendered once (identical across streams)


def _content(i: int) -> bytes:
    """The i-th text append, shaped like tests/support/fake_kimi.py's (eventOffset continues the preamble's)."""
    while len(_CONTENT) <= i:
        n = len(_CONTENT)
        _CONTENT.append(_chunk(0, {"op": "append", "mask": "block.text.content", "eventOffset": _PREAMBLE + n,
                                   "block": {"id": "1_0", "text": {"content": f"word{n} "}}}))
    return _CONTENT[i]


class _Stream(asyncio.Protocol):
    """One connection: read a request, stream the answer on a timer; then the next request, or close."""

    def __init__(self):
        self.buffer = bytearray()
        self.transport = None
        self.started = False
        self.paused = False
        self.timer = None
        self.answered = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.started:
            return
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        if self.buffer.startswith(b"GET /stats "):
            self._answer_stats()
            return
        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", self.buffer[:head_end])
        if length is None:
            self._refuse()
            return
        if len(self.buffer) < head_end + 4 + int(length[1]):
            return
        workload = WORKLOAD.search(self.buffer, head_end)
        if workload is None:
            self._refuse()
            return
        self.started = True
        self.keep_alive = CLOSE.search(self.buffer, 0, head_end + 2) is None
        self.frames, delay_ms = max(1, int(workload[1])), int(workload[2])
        self.buffer.clear()  # a client sends its next request only after this answer's end
        if not self.answered:
            STATS["connections"] += 1
            tls = self.transport.get_extra_info("ssl_object")
            STATS["resumed"] += bool(tls is not None and tls.session_reused)
        self.answered += 1
        STATS["requests"] += 1
        self.delay = delay_ms / 1000
        preamble, self.tail = _answer()
        self.transport.write(RESPONSE_HEAD % (b"" if self.keep_alive else b"Connection: close\r\n"))
        for chunk in preamble:
            self.transport.write(chunk)
        self.next_frame = 0
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self._send()

    def _answer_stats(self):
        self.started = True
        body = json.dumps(STATS).encode()
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()

    def _refuse(self):
        self.started = True
        self.transport.write(BAD_REQUEST)
        self.transport.close()

    def _send(self):
        self.timer = None
        if self.transport.is_closing():
            return
        if self.delay:
            # Frame i leaves at start + i * delay (no drift); the first one at once.
            self.transport.write(_content(self.next_frame))
            self.next_frame += 1
            if self.next_frame < self.frames:
                self.timer = self.loop.call_at(self.start + self.next_frame * self.delay, self._send)
                return
        else:
            stop = min(self.frames, self.next_frame + BURST)
            self.transport.write(b"".join(_content(i) for i in range(self.next_frame, stop)))
            self.next_frame = stop
            if self.next_frame < self.frames:
                if not self.paused:
                    self.timer = self.loop.call_soon(self._send)
                return
        if self.delay:
            self.timer = self.loop.call_at(self.start + self.frames * self.delay, self._finish)
        else:
            self._finish()

    def _finish(self):
        self.timer = None
        if not self.transport.is_closing():
            self.transport.write(b"".join(self.tail))
            if self.keep_alive:
                self.started = False
            else:
                self.transport.close()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        if self.started and self.timer is None and self.next_frame < self.frames and not self.delay:
            self.timer = self.loop.call_soon(self._send)

    def connection_lost(self, exc):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


async def serve(port: int, tls: ssl.SSLContext | None = None) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    # A deep backlog: the bench opens hundreds of upstream connections within a second.
    servers = [await loop.create_server(_Stream, "127.0.0.1", port, backlog=4096)]
    urls = ["http://127.0.0.1:%d" % servers[0].sockets[0].getsockname()[1]]
    if tls is not None:
        servers.append(await loop.create_server(_Stream, "127.0.0.1", 0, backlog=4096, ssl=tls))
        urls.append("https://127.0.0.1:%d" % servers[1].sockets[0].getsockname()[1])
    print("READY", *urls, flush=True)
    await stopped.wait()
    for server in servers:
        server.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert", help="PEM certificate chain for 127.0.0.1: also serve over TLS")
    parser.add_argument("--tls-key", help="its PEM private key")
    args = parser.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    uvloop.run(serve(args.port, tls))


if __name__ == "__main__":
    main()
