"""A lean fake Kimi upstream for the benchmark: asyncio, one process, the Connect framing and frame
order of tests/support/fake_kimi.py. The workload rides in the prompt: "bench frames=N delay_ms=D".
"""
from __future__ import annotations

import argparse
import asyncio
import re
import signal
import uuid

import uvloop

from tests.support.fake_kimi import _answer_frames, encode_envelope

WORKLOAD = re.compile(rb"frames=(\d+) delay_ms=(\d+)")
RESPONSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/connect+json\r\n"
                 b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
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


_CONTENT: list[bytes] = []  # content frame i of every answer, rendered once (identical across streams)


def _content(i: int) -> bytes:
    """The i-th text append, shaped like tests/support/fake_kimi.py's (eventOffset continues the preamble's)."""
    while len(_CONTENT) <= i:
        n = len(_CONTENT)
        _CONTENT.append(_chunk(0, {"op": "append", "mask": "block.text.content", "eventOffset": _PREAMBLE + n,
                                   "block": {"id": "1_0", "text": {"content": f"word{n} "}}}))
    return _CONTENT[i]


class _Stream(asyncio.Protocol):
    """One connection: read one request, stream the answer on a timer, close."""

    def __init__(self):
        self.buffer = bytearray()
        self.transport = None
        self.started = False
        self.paused = False
        self.timer = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.started:
            return
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
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
        self.frames, delay_ms = max(1, int(workload[1])), int(workload[2])
        self.delay = delay_ms / 1000
        preamble, self.tail = _answer()
        self.transport.write(RESPONSE_HEAD)
        for chunk in preamble:
            self.transport.write(chunk)
        self.next_frame = 0
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self._send()

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


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    # A deep backlog: the bench opens hundreds of upstream connections within a second.
    server = await loop.create_server(_Stream, "127.0.0.1", port, backlog=4096)
    print("READY http://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stopped.wait()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    uvloop.run(serve(parser.parse_args(argv).port))


if __name__ == "__main__":
    main()
