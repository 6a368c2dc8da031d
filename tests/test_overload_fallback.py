"""OVERLOAD_FALLBACK: when Kimi answers a model with its free-tier overload before the first byte, on
every account, the next model of the chain serves the request, and X-Kimi-Scenario says which did."""
import anthropic
import openai
import pytest
import requests

from configs.settings import load_models
from kimi.models import ModelTable, parse_fallbacks

pytest_plugins = ["tests.support.turn_gateways"]

MODELS = ModelTable(load_models())
OVERLOAD = "error_resource_exhausted.jsonl"
QUESTION = [{"role": "user", "content": "Think hard: why?"}]


def chats(kimi):
    """The Chat requests Kimi received (this gateway also sends DeleteChat, maybe late from a test before)."""
    return [r for r in kimi.requests if r.path.endswith("/Chat")]


def test_fallback_chains_map_each_model_to_the_models_after_it():
    assert parse_fallbacks("kimi-k2.6-thinking > kimi-k2.6 > kimi-k2.5-instant, kimi-k2.5-thinking>kimi-latest",
                           MODELS) == {"kimi-k2.6-thinking": ("kimi-k2.6", "kimi-k2.5-instant"),
                                       "kimi-k2.6": ("kimi-k2.5-instant",), "kimi-k2.5-thinking": ("kimi-latest",)}
    assert parse_fallbacks("", MODELS) == {}
    with pytest.raises(ValueError, match="'kimi-k9'"):
        parse_fallbacks("kimi-k2.5-thinking>kimi-k9", MODELS)


def test_an_overloaded_thinking_model_falls_back_to_the_instant_model(turn_kimi, features_gateway, user_token):
    turn_kimi.replay(OVERLOAD)
    with openai.OpenAI(base_url=features_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="kimi-k2.5-thinking", messages=QUESTION,
                                                              reasoning_effort="high")
    reply = raw.parse()
    assert raw.headers["X-Kimi-Scenario"] == "kimi-k2.5-instant"
    assert raw.headers["X-Kimi-Fallback-From"] == "kimi-k2.5-thinking"
    assert reply.model == "kimi-k2.5-instant" and reply.choices[0].message.content == "Think hard: why?"
    assert [r.body["options"]["thinking"] for r in chats(turn_kimi)] == [True, False]


def test_an_alias_of_the_overloaded_model_falls_back_as_well(turn_kimi, features_gateway, user_token):
    turn_kimi.replay(OVERLOAD)
    response = requests.post(features_gateway.url + "/v1/chat/completions", timeout=10, stream=True,
                             headers={"Authorization": f"Bearer {user_token}"},
                             json={"model": "o3-mini", "stream": True, "messages": QUESTION})
    with response:
        assert response.status_code == 200 and response.headers["X-Kimi-Scenario"] == "kimi-k2.5-instant"
        assert response.content.endswith(b"data: [DONE]\n\n")


def test_a_served_model_names_itself_without_a_fallback(turn_kimi, features_gateway, user_token):
    response = requests.post(features_gateway.url + "/v1/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {user_token}"},
                             json={"model": "kimi-k2.5-thinking", "messages": QUESTION})
    assert response.headers["X-Kimi-Scenario"] == "kimi-k2.5-thinking" and len(chats(turn_kimi)) == 1


def test_when_the_last_model_is_overloaded_too_the_caller_gets_the_overload(turn_kimi, features_gateway, user_token):
    turn_kimi.replay(OVERLOAD).replay(OVERLOAD)
    with anthropic.Anthropic(base_url=features_gateway.url, api_key=user_token, max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(model="kimi-k2.5-thinking", max_tokens=100, messages=QUESTION)
    assert caught.value.status_code == 429 and caught.value.body["error"]["type"] == "rate_limit_error"
    assert [r.body["scenario"] for r in chats(turn_kimi)] == ["SCENARIO_K2D5", "SCENARIO_K2D5"]
    assert [r.body["options"]["thinking"] for r in chats(turn_kimi)] == [True, False]


def test_a_pool_account_overloaded_for_one_model_serves_the_fallback_without_resting(turn_kimi, features_gateway,
                                                                                  server_token):
    turn_kimi.replay(OVERLOAD)
    first = requests.post(features_gateway.url + "/v1/chat/completions", timeout=10,
                          headers={"Authorization": "Bearer no-key-on-loopback"},
                          json={"model": "kimi-k2.5-thinking", "messages": QUESTION})
    second = requests.post(features_gateway.url + "/v1/chat/completions", timeout=10,
                           headers={"Authorization": "Bearer no-key-on-loopback"},
                           json={"model": "kimi-k2.5-thinking", "messages": QUESTION})
    assert first.status_code == 200 and first.headers["X-Kimi-Scenario"] == "kimi-k2.5-instant"
    assert second.status_code == 200 and second.headers["X-Kimi-Scenario"] == "kimi-k2.5-thinking"
    assert "X-Kimi-Fallback-From" not in second.headers
    assert {r.headers["Authorization"] for r in chats(turn_kimi)} == {f"Bearer {server_token}"}


def test_without_a_chain_the_overload_is_a_429(kimi, gateway, user_token):
    kimi.replay(OVERLOAD)
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="kimi-k2.5-thinking", messages=QUESTION)
    assert len(kimi.requests) == 1
