"""The benchmark's load generator: raw asyncio sockets in a process of its own, so it stays cheap next to
the server it drives. Reads one scenario as JSON on stdin, prints its measurements as JSON on stdout.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import uvloop

# What marks a content frame or chunk in each target's stream (both are unambiguous in the bench's
# answers: the words are "word<i> " and the OpenAI role chunk carries `"role"` before its empty content).
CONTENT_MARKERS = {"direct": b'"mask":"block.text.content"', "gateway": b'{"content":"'}
END_MARKERS = {"direct": b"0\r\n\r\n", "gateway": b"data: [DONE]\n\n"}
# Passed through: the relay copies the fake's bytes; the minimal app sends each frame in its own chunk,
# and gunicorn's last chunk is the same end marker.
for _target in ("relay", "minimal"):
    CONTENT_MARKERS[_target], END_MARKERS[_target] = CONTENT_MARKERS["direct"], END_MARKERS["direct"]


class _Client(asyncio.Protocol):
    """One stream: send the request at connect, time the first content, count content until EOF."""

    def __init__(self, owner: "_Run", started: float):
        self.owner, self.started = owner, started
        self.first_content = None
        self.count = 0
        self.reads = 0
        self.head = b""
        self.carry = b""  # the previous read's last bytes, in case a marker straddles two reads
        self.last = b""  # the stream's last bytes, where its end marker must be
        self.done = owner.loop.create_future()

    def connection_made(self, transport):
        transport.write(self.owner.request)
        self.owner.opened()

    def data_received(self, data):
        self.reads += 1
        if not self.head:
            self.head = data[:12]
        marker = self.owner.marker
        joined = self.carry + data
        found = joined.count(marker)
        if found:
            if self.first_content is None:
                self.first_content = time.perf_counter()
            self.count += found
        self.carry = joined[1 - len(marker):]
        self.last = data[-32:] if len(data) >= 32 else (self.last + data)[-32:]

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(exc)


class _Run:
    def __init__(self, scenario: dict):
        self.loop = asyncio.get_running_loop()
        self.host, self.port = scenario["host"], scenario["port"]
        self.target = scenario["target"]
        self.marker, self.end = CONTENT_MARKERS[self.target], END_MARKERS[self.target]
        self.request = scenario["request"].encode("latin-1")
        self.frames = scenario["frames"]
        self.open = self.max_open = 0

    def opened(self):
        self.open += 1
        self.max_open = max(self.max_open, self.open)

    async def stream(self, start_at: float, deadline: float) -> dict:
        await asyncio.sleep(max(0.0, start_at - self.loop.time()))
        started, open_before = time.perf_counter(), self.open
        try:
            transport, client = await asyncio.wait_for(self.loop.create_connection(
                lambda: _Client(self, started), self.host, self.port), deadline - self.loop.time())
        except (OSError, asyncio.TimeoutError) as exc:
            return {"error": "connect: " + type(exc).__name__}
        try:
            exc = await asyncio.wait_for(client.done, max(0.0, deadline - self.loop.time()))
        except asyncio.TimeoutError:
            transport.abort()
            exc = "timeout"
        finally:
            self.open -= 1
        ended = time.perf_counter()
        result = {"ttfb": None if client.first_content is None else client.first_content - started,
                  "total": ended - started, "chunks": client.count, "reads": client.reads,
                  "open_before": open_before}
        if exc is not None:
            result["error"] = exc if isinstance(exc, str) else type(exc).__name__
        elif not client.head.startswith(b"HTTP/1.1 200"):
            result["error"] = "status " + client.head[9:12].decode("latin-1", "replace")
        elif client.count != self.frames or self.end not in client.last:
            result["error"] = "incomplete"
        return result


async def _warm_up(host: str, port: int) -> None:
    """One bare connect and close, so the first timed stream does not pay for cold code paths."""
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, host, port)
    transport.close()


async def run(scenario: dict) -> dict:
    await _warm_up(scenario["host"], scenario["port"])
    runner = _Run(scenario)
    streams, ramp = scenario["streams"], scenario["ramp"]
    begin = runner.loop.time() + 0.05
    deadline = begin + ramp + scenario["timeout"]
    cpu_before, wall_before = os.times(), time.perf_counter()
    results = await asyncio.gather(*(runner.stream(begin + ramp * i / streams, deadline)
                                     for i in range(streams)))
    cpu_after, wall = os.times(), time.perf_counter() - wall_before
    errors: dict[str, int] = {}
    for result in results:
        if "error" in result:
            errors[result["error"]] = errors.get(result["error"], 0) + 1
    return {
        "ttfb": sorted(r["ttfb"] for r in results if r.get("ttfb") is not None and "error" not in r),
        # Streams that began while at least 90 % of the others were already open: the level at its fullest.
        "ttfb_full": sorted(r["ttfb"] for r in results if r.get("ttfb") is not None and "error" not in r
                            and r["open_before"] >= 0.9 * (streams - 1)),
        "total": sorted(r["total"] for r in results if "error" not in r),
        "chunks": sum(r.get("chunks", 0) for r in results),
        "reads": sum(r.get("reads", 0) for r in results),
        "errors": errors,
        "max_open": runner.max_open,
        "wall": wall,
        "cpu": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
    }


def main() -> None:
    scenario = json.load(sys.stdin)
    print(json.dumps(uvloop.run(run(scenario))), flush=True)


if __name__ == "__main__":
    main()
