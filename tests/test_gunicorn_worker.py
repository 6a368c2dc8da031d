"""configs/gunicorn_worker.py: the gevent worker whose client sockets send a reply's chunk with one send,
and still deliver every byte, in order, when the client reads slowly."""
import gevent
import gevent.socket
import pytest
from gunicorn.workers.ggevent import GeventWorker

from configs.gunicorn_worker import GatewayWorker, _OneSendSocket


def _pair():
    server, client = gevent.socket.socketpair()
    server.__class__ = _OneSendSocket  # what GatewayWorker.handle makes of an accepted socket
    return server, client


def _read_all(sock, size: int, pause: float = 0.0) -> bytes:
    received = b""
    while len(received) < size:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
        gevent.sleep(pause)
    return received


def test_the_worker_is_gunicorns_gevent_worker():
    assert issubclass(GatewayWorker, GeventWorker)


def test_a_small_chunk_arrives_whole():
    server, client = _pair()
    with server, client:
        server.sendall(b"5\r\nhello\r\n")
        assert client.recv(100) == b"5\r\nhello\r\n"


@pytest.mark.parametrize("data_kind", [bytes, bytearray, memoryview])
def test_a_chunk_larger_than_the_socket_buffers_arrives_whole_and_in_order_to_a_slow_reader(data_kind):
    server, client = _pair()
    payload = bytes(range(256)) * 40_000  # 10 MB: far more than one send can hand the kernel
    with server, client:
        reader = gevent.spawn(_read_all, client, len(payload), 0.001)
        server.sendall(data_kind(payload))
        assert reader.get(timeout=30) == payload


def test_a_client_that_went_away_raises_the_socket_error_as_before():
    server, client = _pair()
    client.close()
    with server, pytest.raises(OSError):
        for _ in range(100):  # the first sends may still land in the buffer before the reset is seen
            server.sendall(b"x" * 65536)
