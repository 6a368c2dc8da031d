"""Request ids, JSON access logs and /metrics, on the real server."""
import orjson
import requests

from tests.support.waiting import wait_until


def access_lines(gateway):
    lines = [orjson.loads(line) for line in gateway.log_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "access"]


def test_every_reply_carries_a_request_id_and_a_given_one_is_kept(gateway):
    assert len(requests.get(gateway.url + "/ping", timeout=5).headers["X-Request-Id"]) == 32
    kept = requests.get(gateway.url + "/ping", headers={"X-Request-Id": "trace-42"}, timeout=5)
    assert kept.headers["X-Request-Id"] == "trace-42"
    odd = requests.get(gateway.url + "/ping", headers={"X-Request-Id": "bad id\twith spaces"}, timeout=5)
    assert odd.headers["X-Request-Id"] != "bad id\twith spaces"


def test_access_log_is_json_with_request_id_and_no_query_string(gateway):
    requests.get(gateway.url + "/ping?key=do-not-log-me", headers={"X-Request-Id": "log-check-1"}, timeout=5)
    line = wait_until(lambda: next((line for line in access_lines(gateway)
                                    if line["request_id"] == "log-check-1"), None))
    assert "do-not-log-me" not in gateway.log_text()
    assert line["message"] == "GET /ping 200" and line["status"] == 200
    assert line["duration_ms"] >= 0 and line["first_byte_ms"] >= 0 and line["level"] == "INFO"


def test_metrics_count_requests_by_route_format_and_status(kimi, gateway, openai_client):
    openai_client.chat.completions.create(model="kimi-latest", stream=True,
                                          messages=[{"role": "user", "content": "x"}]).close()
    text = requests.get(gateway.url + "/metrics", timeout=5).text
    assert 'kimi_gateway_requests_total{format="openai",route="/v1/chat/completions",status="200"}' in text
    assert "kimi_gateway_time_to_first_byte_seconds_bucket" in text
    assert "kimi_gateway_open_streams" in text
    assert 'kimi_gateway_accounts{state="active"} 1.0' in text  # the gateway's KIMI_TOKEN account


def test_streamed_reply_is_logged_when_its_body_ends(kimi, gateway, user_token):
    with requests.post(gateway.url + "/v1/chat/completions", stream=True, timeout=10,
                       headers={"Authorization": f"Bearer {user_token}", "X-Request-Id": "stream-log-1"},
                       json={"model": "kimi-latest", "stream": True,
                             "messages": [{"role": "user", "content": "hello there"}]}) as response:
        assert response.content.endswith(b"data: [DONE]\n\n")
    assert wait_until(lambda: any(line["request_id"] == "stream-log-1" for line in access_lines(gateway)))
