"""configs/gunicorn_worker.py: the gevent worker whose client sockets send a reply's chunk with one send,
and still deliver every byte, in order, when the client reads slowly."""
import ssl

import gevent
import gevent.socket
import gevent.ssl
import pytest

from configs.gunicorn_worker import _OneSendSocket, send_in_one_call


def _pair():
    server, client = gevent.socket.socketpair()
    send_in_one_call(server)  # what GatewayWorker.handle does with an accepted socket
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


def test_an_accepted_plain_socket_sends_in_one_call_and_a_tls_one_keeps_its_class():
    server, client = _pair()
    with server, client:
        assert type(server) is _OneSendSocket
        tls = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_socket(
            client, server_hostname="kimi.example", do_handshake_on_connect=False)
        send_in_one_call(tls)
        assert type(tls) is gevent.ssl.SSLSocket
        tls.close()


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
