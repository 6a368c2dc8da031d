"""Fault injection through the real server: slow clients and a failing upstream under load leave the
worker serving and no upstream connection open."""
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import requests

from tests.support.waiting import wait_until


def test_a_very_slow_reader_gets_the_whole_answer_and_nothing_leaks(kimi, gateway, user_token):
    kimi.long_answer(n_frames=400, delay=0)
    body = orjson.dumps({"model": "kimi-latest", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {user_token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # the gateway's writes back up
        sock.sendall(request + body)
        received = bytearray()
        while chunk := sock.recv(512):
            received += chunk
            time.sleep(0.002)
    assert received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")  # the SSE end, then the chunked end
    assert received.count(b'"content":"word') == 400
    assert kimi.wait_for(lambda: kimi.open_streams == 0)


def test_200_concurrent_requests_while_the_upstream_fails(kimi, gateway, user_token):
    for _ in range(200):
        kimi.http_error(503)

    def call(_):
        response = requests.post(gateway.url + "/v1/chat/completions", timeout=30,
                                 headers={"Authorization": f"Bearer {user_token}"},
                                 json={"model": "kimi-latest", "messages": [{"role": "user", "content": "x"}]})
        return response.status_code, response.json()["error"]["type"]

    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(call, range(200)))
    assert results == [(502, "api_error")] * 200
    assert kimi.wait_for(lambda: kimi.open_streams == 0)
    healthy = requests.post(gateway.url + "/v1/chat/completions", timeout=10,
                            headers={"Authorization": f"Bearer {user_token}"},
                            json={"model": "kimi-latest", "messages": [{"role": "user", "content": "still up?"}]})
    assert healthy.json()["choices"][0]["message"]["content"] == "still up?"


def test_streams_cut_by_the_upstream_leave_nothing_open(kimi, gateway, user_token):
    for _ in range(20):
        kimi.cut(after_frames=5)

    def call(_):
        with requests.post(gateway.url + "/v1/chat/completions", timeout=30, stream=True,
                           headers={"Authorization": f"Bearer {user_token}"},
                           json={"model": "kimi-latest", "stream": True,
                                 "messages": [{"role": "user", "content": "x"}]}) as response:
            return response.content.endswith(b"data: [DONE]\n\n") and b'"error"' in response.content

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert all(pool.map(call, range(20)))
    assert wait_until(lambda: kimi.open_streams == 0)
