"""Work a caller can trigger is bounded, through the real server: a body that trickles in is cut with 408,
a client that stops reading loses its stream (and the account slot comes back), and a proxy key holds at
most KEY_MAX_STREAMS streams at once."""
import os
import socket

import orjson
import pytest
import requests

from tests.support.gateways import Gateway
from tests.support.waiting import wait_until

KEY_A, KEY_B = "sk-limits-key-a-0123456789", "sk-limits-key-b-0123456789"


@pytest.fixture(scope="module")
def bounded_gateway(fake_kimi_server, fake_legacy_server, server_token, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bounded-gateway")
    env = {**os.environ, "KIMI_BASE_URL": fake_kimi_server.url, "KIMI_LEGACY_BASE_URL": fake_legacy_server.url,
           "DATA_DIR": str(tmp / "data"), "KIMI_TOKEN": server_token, "API_KEYS": f"{KEY_A},{KEY_B}",
           "WEB_CONCURRENCY": "1", "UPSTREAM_READ_TIMEOUT": "5", "UPSTREAM_CONNECT_TIMEOUT": "2",
           "BODY_READ_TIMEOUT": "1", "CLIENT_WRITE_TIMEOUT": "1", "KEY_MAX_STREAMS": "1",
           "ACCOUNT_MAX_STREAMS": "1", "LOG_LEVEL": "INFO"}
    server = Gateway(env, tmp)
    yield server
    server.stop()


def _head(path: str, length: int, key: str = KEY_A) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nx-api-key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def _read_answer(sock: socket.socket, received: bytes = b"") -> tuple[bytes, bytes]:
    """(head, body) of one HTTP answer with a Content-Length."""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def _trickle_until_cut(sock: socket.socket, body: bytes) -> tuple[bytes, bytes]:
    """Sends `body` a byte at a time, a tenth of a second apart, until the server answers."""
    sock.settimeout(0.1)
    for byte in body:
        try:
            sock.sendall(bytes([byte]))
        except OSError:  # the server has closed the connection
            break
        try:
            first = sock.recv(65536)
        except socket.timeout:
            continue
        sock.settimeout(10)
        return _read_answer(sock, first)
    raise AssertionError("the server read the whole trickled body")


@pytest.mark.parametrize("path, expected", [
    ("/v1/chat/completions", {"type": "timeout_error", "code": "body_timeout"}),
    ("/v1/messages", {"type": "timeout_error"}),
    ("/v1beta/models/kimi-latest:generateContent", {"status": "DEADLINE_EXCEEDED", "code": 408}),
])
def test_a_trickling_body_is_cut_with_408_in_the_callers_format(bounded_gateway, path, expected):
    body = b'{"model": "kimi-latest", "messages": [' + b" " * 200 + b"]}"
    with socket.create_connection(("127.0.0.1", bounded_gateway.port)) as sock:
        sock.sendall(_head(path, len(body)))
        head, payload = _trickle_until_cut(sock, body)
    assert head.startswith(b"HTTP/1.1 408 ")
    error = orjson.loads(payload)["error"]
    assert {name: error[name] for name in expected} == expected
    assert "BODY_READ_TIMEOUT" in error["message"]


def test_ping_answers_while_bodies_trickle(bounded_gateway):
    body = b'{"model": "kimi-latest"}'
    socks = [socket.create_connection(("127.0.0.1", bounded_gateway.port)) for _ in range(20)]
    try:
        for sock in socks:
            sock.sendall(_head("/v1/chat/completions", len(body)) + body[:1])
        assert requests.get(bounded_gateway.url + "/ping", timeout=5).text == "pong"
        for sock in socks:
            sock.settimeout(10)
            assert _read_answer(sock)[0].startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in socks:
            sock.close()


def _chat(url: str, key: str, stream: bool = False) -> requests.Response:
    return requests.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, stream=stream,
                         json={"model": "kimi-latest", "stream": stream, "messages": [{"role": "user", "content": "x"}]},
                         timeout=10)


def test_a_key_holding_its_stream_limit_gets_429_naming_it(kimi, bounded_gateway):
    url = bounded_gateway.url
    kimi.long_answer(n_frames=400, delay=0.05)
    with _chat(url, KEY_A, stream=True) as held:
        assert next(held.iter_lines()).startswith(b"data: ")
        refused = _chat(url, KEY_A)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "key_streams_limited"
        assert "at most 1 requests open at once" in refused.json()["error"]["message"]
    assert wait_until(lambda: _chat(url, KEY_A).status_code == 200)


def test_a_client_that_stops_reading_loses_its_stream_and_frees_the_account(kimi, bounded_gateway):
    url = bounded_gateway.url
    kimi.long_answer(n_frames=200_000, delay=0)
    body = orjson.dumps({"model": "kimi-latest", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(("127.0.0.1", bounded_gateway.port))
        sock.sendall(_head("/v1/chat/completions", len(body)) + body)
        assert wait_until(lambda: kimi.open_streams == 1)
        # Never read again: the account's one slot must come back without this client's help.
        assert requests.get(url + "/ping", timeout=5).text == "pong"
        assert wait_until(lambda: kimi.open_streams == 0, timeout=30)
        # The upstream answer closes a moment before the worker gives the account's slot back.
        answer = wait_until(lambda: (reply := _chat(url, KEY_B)).status_code == 200 and reply)
    assert answer and answer.json()["choices"][0]["message"]["content"] == "x"
    assert "Traceback" not in bounded_gateway.log_text()  # a cut write is a departed client, not a crash
