"""gunicorn's gevent worker, with one change to how a reply reaches the client's socket.

gunicorn writes a streamed reply with a `sendall` per chunk, and gevent's `sendall` asks the kernel for
the socket's send-buffer size (a `getsockopt` system call) on every call, to cut large payloads into
pieces (a PyPy workaround). A streamed answer's chunks are a few hundred bytes, so that call was pure
cost: ~5 µs of a relayed frame's ~27 µs when every frame arrives in its own upstream write (bench/,
`paced`). Here a chunk goes out with one `send`, which sends it whole unless the client's receive window
is full; only then does the rest go through gevent's `sendall`, which waits for the socket as before.
"""
from __future__ import annotations

from typing import Any

import gevent.socket
from gunicorn.workers.ggevent import GeventWorker


class _OneSendSocket(gevent.socket.socket):
    """gevent's socket, whose sendall tries a single send first."""

    __slots__ = ()  # the same layout as gevent's socket, so an accepted socket can become one

    def sendall(self, data: Any, flags: int = 0) -> None:
        sent = self.send(data, flags)  # gevent's send: waits (within the timeout) while the buffer is full
        if sent < len(data):
            super().sendall(memoryview(data)[sent:], flags)


def send_in_one_call(client: Any) -> None:
    """Give an accepted plain TCP socket the one-send sendall; a TLS one (gunicorn's own certfile) keeps
    gevent's SSL socket class."""
    if type(client) is gevent.socket.socket:
        client.__class__ = _OneSendSocket


class GatewayWorker(GeventWorker):
    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        send_in_one_call(client)
        super().handle(listener, client, addr)
