"""Every response carries Server-Timing (https://www.w3.org/TR/server-timing/): the gateway's own time
before the headers, and Kimi's time to first byte when Kimi was called, as browsers' devtools read it."""
import re

import pytest
import requests

from blueprints.upstream import services

pytestmark = pytest.mark.app("served", model_catalogue_ttl=0)

CHAT = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": "hi"}]}
MS = r"(\d+\.\d)"  # a duration of the grammar's `dur` parameter: milliseconds, one decimal
WITH_KIMI = re.compile(rf'gateway;dur={MS}, kimi;dur={MS};desc="Kimi time to first byte"')
GATEWAY_ONLY = re.compile(rf"gateway;dur={MS}")


def test_a_whole_answer_names_the_gateways_time_and_kimis(client, kimi):
    kimi.replay("plain_text.jsonl")
    with client.post("/v1/chat/completions", json=CHAT) as response:
        assert response.status_code == 200
        assert WITH_KIMI.fullmatch(response.headers["Server-Timing"])


def test_a_stream_names_the_gateways_time_and_kimis_first_byte(client, kimi):
    kimi.replay("plain_text.jsonl")
    with client.post("/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        assert WITH_KIMI.fullmatch(response.headers["Server-Timing"])


def test_a_chat_website_on_another_origin_may_read_it(client, kimi):
    kimi.replay("plain_text.jsonl")
    with client.post("/v1/chat/completions", json=CHAT, headers={"Origin": "https://chat.example"}) as response:
        assert response.status_code == 200
        exposed = [name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")]
        assert "Server-Timing" in exposed


def test_a_refused_request_names_the_gateways_time_alone(app, client, kimi):
    services(app).keyring.create(label="only key")
    with client.post("/v1/chat/completions", json=CHAT) as response:
        assert response.status_code == 401
        assert GATEWAY_ONLY.fullmatch(response.headers["Server-Timing"])
    assert kimi.requests == []


def test_the_header_reaches_a_real_client_through_gunicorn(gateway, kimi, user_token):
    kimi.replay("plain_text.jsonl")
    response = requests.post(gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10,
                             headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 200
    metrics = [metric.strip() for metric in response.headers["Server-Timing"].split(",")]
    assert [metric.split(";")[0] for metric in metrics] == ["gateway", "kimi"]
    assert WITH_KIMI.fullmatch(response.headers["Server-Timing"])
