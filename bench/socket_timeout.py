"""What a socket timeout costs each read under gevent (the reason for kimi/stall.py).

200 loopback socket pairs, one greenlet reading each through a buffered file as the gateway reads Kimi,
one writer feeding them all every 2 ms; CPU time per read with a 60 s timeout on the sockets, and with
none. Run: .venv/bin/python -m bench.socket_timeout
"""
from gevent import monkey

monkey.patch_all()

import socket  # noqa: E402  (after the patch, as in the gateway)
import time  # noqa: E402

import gevent  # noqa: E402

PAIRS, ROUNDS = 200, 300


def cpu_per_read(timeout) -> float:
    pairs = [socket.socketpair() for _ in range(PAIRS)]
    for ours, _ in pairs:
        ours.settimeout(timeout)
    files = [ours.makefile("rb") for ours, _ in pairs]

    def reader(file):
        for _ in range(ROUNDS):
            file.read1(65536)

    def writer():
        for _ in range(ROUNDS):
            for _, theirs in pairs:
                theirs.send(b"x" * 100)
            gevent.sleep(0.002)

    started = time.process_time()
    gevent.joinall([gevent.spawn(reader, file) for file in files] + [gevent.spawn(writer)])
    spent = time.process_time() - started
    for ours, theirs in pairs:
        ours.close()
        theirs.close()
    return spent / (PAIRS * ROUNDS) * 1e6


def main() -> None:
    for _ in range(3):
        print(f"CPU per read: {cpu_per_read(60):.2f} µs with a 60 s socket timeout, "
              f"{cpu_per_read(None):.2f} µs without")


if __name__ == "__main__":
    main()
