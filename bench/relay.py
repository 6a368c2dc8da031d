"""The floor of `make bench`: a bare gevent pass-through between the load generator and the fake upstream.

One gevent process, nothing but sockets: it reads a request, opens a connection to the upstream, sends
the request on and copies every upstream read to the client as it is, until the last chunk. No HTTP
parsing beyond Content-Length, no JSON, no Flask, no gunicorn. What it adds to the direct figures is
what any one-process gevent relay pays on this machine (a loop turn, a recv and a send per read); the
gateway cannot add less. Prints "READY <port>" once listening.
"""
import os

os.environ.setdefault("GEVENT_RESOLVER", "ares")  # as configs/gunicorn.conf.py has the gateway resolve

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402  (after patch_all, as gevent requires)
import re  # noqa: E402
import socket  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

from configs.gunicorn_worker import send_in_one_call  # noqa: E402

READ_SIZE = 64 * 1024
LAST_CHUNK = b"0\r\n\r\n"  # the fake upstream keeps its connection open after an answer
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
READ_TIMEOUT = 120  # as the gateway's upstream sockets have one, so do these


def _read_request(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = client.recv(READ_SIZE)
        if not piece:
            return b""
        data += piece
    head = data[:data.index(b"\r\n\r\n") + 4]
    length = CONTENT_LENGTH.search(head)
    while len(data) < len(head) + int(length[1] if length else 0):
        piece = client.recv(READ_SIZE)
        if not piece:
            return b""
        data += piece
    return data


def serve(upstream: tuple[str, int]):
    def handle(client: socket.socket, _address) -> None:
        # Sent as the gateway's worker sends (gevent's sendall makes a getsockopt call each time): the floor
        # must not pay what the gateway no longer pays.
        send_in_one_call(client)
        request = _read_request(client)
        if not request:
            return
        with socket.create_connection(upstream, timeout=READ_TIMEOUT) as connection:
            connection.sendall(request)
            while True:
                data = connection.recv(READ_SIZE)
                if not data:
                    break
                client.sendall(data)
                if data.endswith(LAST_CHUNK):
                    break
    return handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream_port", type=int)
    args = parser.parse_args()
    server = StreamServer(("127.0.0.1", 0), serve(("127.0.0.1", args.upstream_port)))
    server.start()
    print("READY", server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
