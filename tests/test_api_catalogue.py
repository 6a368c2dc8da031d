"""The live model catalogue over HTTP (gunicorn + gevent, the fake Kimi): model lists for each API's client,
the K3 request it builds, the free-account refusal in every API's shape, and the fallback that names itself."""
import os
import uuid

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support.gateways import Gateway
from tests.support.jwts import make_jwt
from tests.support.waiting import wait_until

OVERLOAD = "error_free_user_overloaded.jsonl"
USER = [{"role": "user", "content": "Summarise Hamlet."}]


POOL_TOKEN = make_jwt(sub="cataloguepool00000001", membership={"level": "LEVEL_BASIC"})


@pytest.fixture(scope="module")
def catalogue_gateway(fake_kimi_server, fake_legacy_server, tmp_path_factory):
    """One paid account saved; K3 falls back to K2.6 Instant; nothing is deleted or continued (no
    background calls of its own)."""
    tmp = tmp_path_factory.mktemp("catalogue-gateway")
    env = {**os.environ, "KIMI_BASE_URL": fake_kimi_server.url, "KIMI_LEGACY_BASE_URL": fake_legacy_server.url,
           "DATA_DIR": str(tmp / "data"), "KIMI_TOKEN": POOL_TOKEN, "API_KEYS": "", "WEB_CONCURRENCY": "1",
           "DELETE_CHATS": "false", "NATIVE_CONTINUATION": "false", "OVERLOAD_FALLBACK": "kimi-k3>kimi-k2.6"}
    server = Gateway(env, tmp)
    yield server
    server.stop()


def account(level):
    """A token of a Kimi user of its own: the gateway keeps catalogues per user, across this module's tests."""
    return make_jwt(sub=f"catalogue{uuid.uuid4().hex[:12]}", membership={"level": level})


@pytest.fixture
def free_token(kimi):
    token = account("LEVEL_FREE")
    kimi.catalogue_for(token)
    return token


def listed_ids(gateway, token):
    listing = requests.get(gateway.url + "/v1/models", timeout=5, headers={"Authorization": f"Bearer {token}"})
    return [model["id"] for model in listing.json()["data"]]


def catalogue_in(gateway, token):
    """The list once the background call has brought the account's catalogue in."""
    return wait_until(lambda: (ids := listed_ids(gateway, token)) and "kimi-k2.8-preview" in ids and ids)


def test_the_openai_list_adds_the_accounts_catalogue_without_the_entries_it_cannot_use(catalogue_gateway, free_token):
    ids = catalogue_in(catalogue_gateway, free_token)
    assert {"kimi-k2.6", "kimi-k2.6-thinking", "kimi-k3", "kimi-k3-low", "kimi-k3-max", "kimi-k2.8-preview"} <= set(ids)
    assert {"kimi-k2.5-instant", "moonshot-v1-8k", "kimi-latest"} <= set(ids)  # the table's names stay
    assert not [model_id for model_id in ids if "swarm" in model_id and model_id.startswith("kimi-k3")]


def test_a_paid_account_sees_the_swarm(catalogue_gateway, kimi):
    token = account("LEVEL_BASIC")
    kimi.catalogue_for(token)
    assert "kimi-k3-swarm" in catalogue_in(catalogue_gateway, token)


def test_a_list_without_a_kimi_token_shows_the_saved_accounts_catalogue(catalogue_gateway, kimi):
    kimi.catalogue_for(POOL_TOKEN)
    assert "kimi-k3-swarm" in catalogue_in(catalogue_gateway, "no-key-on-loopback")


def test_an_expired_token_costs_no_catalogue_call(catalogue_gateway, kimi):
    expired = make_jwt(sub="catalogueexpired00001", expires_in=-60)
    fresh = account("LEVEL_FREE")
    kimi.catalogue_for(expired).catalogue_for(fresh)
    listed_ids(catalogue_gateway, expired)
    catalogue_in(catalogue_gateway, fresh)  # a later call has come and gone
    assert kimi.catalogue_requests == [fresh]


def test_many_lists_within_the_ttl_cost_one_catalogue_call(catalogue_gateway, kimi, free_token):
    catalogue_in(catalogue_gateway, free_token)
    for _ in range(5):
        listed_ids(catalogue_gateway, free_token)
    assert kimi.catalogue_requests == [free_token]


def test_each_apis_client_lists_the_catalogue(catalogue_gateway, free_token):
    catalogue_in(catalogue_gateway, free_token)
    with openai.OpenAI(base_url=catalogue_gateway.url + "/v1", api_key=free_token, max_retries=0) as client:
        assert client.models.retrieve("kimi-k3-max").id == "kimi-k3-max"
    with anthropic.Anthropic(base_url=catalogue_gateway.url, api_key=free_token, max_retries=0) as client:
        info = client.models.retrieve("kimi-k3")
        assert "kimi-k3-high" in [model.id for model in client.models.list()]
    assert (info.id, info.display_name) == ("kimi-k3", "Flagship chat and agent model")
    options = types.HttpOptions(base_url=catalogue_gateway.url, api_version="v1beta",
                                retry_options=types.HttpRetryOptions(attempts=1))
    with genai.Client(api_key=free_token, http_options=options) as client:
        assert "models/kimi-k2.8-preview" in [model.name for model in client.models.list()]
        with pytest.raises(genai_errors.ClientError):
            client.models.get(model="kimi-k3-swarm")


def test_k3_goes_to_kimi_as_the_catalogue_entry_with_the_requested_effort(catalogue_gateway, kimi, free_token):
    catalogue_in(catalogue_gateway, free_token)
    with openai.OpenAI(base_url=catalogue_gateway.url + "/v1", api_key=free_token, max_retries=0) as client:
        client.chat.completions.create(model="kimi-k3", messages=USER, reasoning_effort="low")
    sent = kimi.requests[-1].body
    assert (sent["scenario"], sent["message"]["scenario"], sent["kimiplus_id"]) == (
        "SCENARIO_OK_COMPUTER", "SCENARIO_OK_COMPUTER", "ok-computer")
    assert sent["options"] == {"thinking": True, "reasoning_effort": "REASONING_EFFORT_LOW",
                               "context_length": "CONTEXT_LENGTH_L", "model": "k3-agent"}


def test_k26_goes_to_kimi_under_the_scenario_the_catalogue_names(catalogue_gateway, kimi, free_token):
    catalogue_in(catalogue_gateway, free_token)
    requests.post(catalogue_gateway.url + "/v1/messages", timeout=10, headers={"x-api-key": free_token},
                  json={"model": "kimi-k2.6", "max_tokens": 50, "messages": USER,
                        "thinking": {"type": "enabled", "budget_tokens": 2048}})
    sent = kimi.requests[-1].body
    assert (sent["scenario"], sent["options"]) == ("SCENARIO_CHAT", {
        "thinking": True, "reasoning_effort": "REASONING_EFFORT_LOW", "model": "k2d6-chat"})


def test_a_paid_only_model_is_refused_to_a_free_account_once_its_catalogue_is_known(catalogue_gateway, kimi,
                                                                                    free_token):
    catalogue_in(catalogue_gateway, free_token)
    response = requests.post(catalogue_gateway.url + "/v1/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {free_token}"},
                             json={"model": "kimi-k3-swarm", "messages": USER})
    assert response.status_code == 402 and response.json()["error"]["code"] == "membership_required"
    assert kimi.requests == []


# The free-account refusal without a fallback: kimi-k3-max has no chain.

def test_k3_refused_to_a_free_account_is_openais_429_with_retry_after(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    response = requests.post(catalogue_gateway.url + "/v1/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {user_token}"},
                             json={"model": "kimi-k3-max", "stream": True, "messages": USER})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.json()["error"]["message"].startswith("Kimi: Too many people are chatting with Kimi")


def test_k3_refused_to_a_free_account_is_anthropics_429_with_retry_after(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    with anthropic.Anthropic(base_url=catalogue_gateway.url, api_key=user_token, max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(model="kimi-k3-max", max_tokens=50, messages=USER)
    assert caught.value.status_code == 429 and int(caught.value.response.headers["Retry-After"]) > 0
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "rate_limit_error"


def test_k3_refused_to_a_free_account_is_geminis_429_with_retry_after(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    response = requests.post(catalogue_gateway.url + "/v1beta/models/kimi-k3-max:generateContent", timeout=10,
                             headers={"x-goog-api-key": user_token}, json={"contents": [{"parts": [{"text": "q"}]}]})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert (response.json()["error"]["code"], response.json()["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")


# With OVERLOAD_FALLBACK kimi-k3>kimi-k2.6 the next model answers, and says so in every API.

def fallback_headers_say_so(headers):
    return headers["X-Kimi-Scenario"] == "kimi-k2.6" and headers["X-Kimi-Fallback-From"] == "kimi-k3"


def test_openai_chat_names_the_fallback_that_answered(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    with openai.OpenAI(base_url=catalogue_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="kimi-k3", messages=USER)
    assert fallback_headers_say_so(raw.headers) and raw.parse().model == "kimi-k2.6"
    assert [r.body["scenario"] for r in kimi.requests] == ["SCENARIO_OK_COMPUTER", "SCENARIO_K2D5"]


def test_openai_stream_chunks_name_the_fallback_that_answered(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    with openai.OpenAI(base_url=catalogue_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        with client.chat.completions.with_streaming_response.create(model="kimi-k3", messages=USER,
                                                                    stream=True) as raw:
            assert fallback_headers_say_so(raw.headers)
            assert {chunk.model for chunk in raw.parse()} == {"kimi-k2.6"}


def test_responses_name_the_fallback_that_answered(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    with openai.OpenAI(base_url=catalogue_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        raw = client.responses.with_raw_response.create(model="kimi-k3", input="Summarise Hamlet.")
    assert fallback_headers_say_so(raw.headers) and raw.parse().model == "kimi-k2.6"


def test_anthropic_messages_name_the_fallback_that_answered(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    with anthropic.Anthropic(base_url=catalogue_gateway.url, api_key=user_token, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(model="kimi-k3", max_tokens=50, messages=USER)
    assert fallback_headers_say_so(raw.headers) and raw.parse().model == "kimi-k2.6"


def test_gemini_names_the_fallback_that_answered(catalogue_gateway, kimi, user_token):
    kimi.replay(OVERLOAD)
    response = requests.post(catalogue_gateway.url + "/v1beta/models/kimi-k3:generateContent", timeout=10,
                             headers={"x-goog-api-key": user_token}, json={"contents": [{"parts": [{"text": "q"}]}]})
    assert fallback_headers_say_so(response.headers) and response.json()["modelVersion"] == "kimi-k2.6"
