"""The paths Gemini shares with OpenAI answer Google clients in Gemini's shape: google-genai without an
explicit api_version (GET /v1/models), a key in `x-goog-api-key` or `?key=`, and unversioned paths."""
import orjson
import pytest
import requests
from google import genai
from google.genai import errors, types

from tests.support.fixture_streams import PLAIN_TEXT


@pytest.fixture
def default_client(gateway, user_token):
    """google-genai as most scripts build it: a base URL and a key, no api_version."""
    options = types.HttpOptions(base_url=gateway.url, retry_options=types.HttpRetryOptions(attempts=1))
    with genai.Client(api_key=user_token, http_options=options) as client:
        yield client


def test_default_google_client_lists_and_gets_models(default_client):
    names = [model.name for model in default_client.models.list()]
    assert "models/kimi-k2.5-instant" in names
    model = default_client.models.get(model="kimi-k2.5-instant")
    assert (model.name, model.supported_actions) == (
        "models/kimi-k2.5-instant", ["generateContent", "streamGenerateContent", "countTokens"])


def test_default_google_client_gets_a_gemini_404_for_an_unknown_model(default_client):
    with pytest.raises(errors.ClientError) as caught:
        default_client.models.get(model="no-such-model")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


@pytest.mark.parametrize("headers, params", [({"x-goog-api-key": "k"}, {}), ({}, {"key": "k"}),
                                             ({"x-goog-api-client": "google-genai-sdk/1.0 gl-python/3.12"}, {})])
def test_v1_models_answers_google_callers_in_geminis_shape(gateway, headers, params):
    listing = requests.get(gateway.url + "/v1/models", headers=headers, params=params, timeout=5)
    assert listing.status_code == 200 and "object" not in listing.json()
    assert listing.json()["models"][0]["name"].startswith("models/")
    one = requests.get(gateway.url + "/v1/models/kimi-k2.5-instant", headers=headers, params=params, timeout=5)
    assert one.json()["name"] == "models/kimi-k2.5-instant"


def test_v1_models_still_answers_openai_callers_in_openais_shape(gateway):
    listing = requests.get(gateway.url + "/v1/models", headers={"Authorization": "Bearer k"}, timeout=5).json()
    assert listing["object"] == "list" and listing["data"][0]["object"] == "model"
    missing = requests.get(gateway.url + "/v1/models/no-such-model", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_unversioned_gemini_paths_answer_in_geminis_shape(kimi, gateway, user_token):
    kimi.replay("plain_text.jsonl")
    headers = {"x-goog-api-key": user_token, "content-type": "application/json"}
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    answer = requests.post(gateway.url + "/models/kimi-k2.5-instant:generateContent", data=body,
                           headers=headers, timeout=15)
    assert answer.status_code == 200
    assert answer.json()["candidates"][0]["content"]["parts"] == [{"text": PLAIN_TEXT}]
    assert requests.get(gateway.url + "/models", timeout=5).json()["models"][0]["name"].startswith("models/")


@pytest.mark.parametrize("path, headers", [("/models/kimi-k2.5-instant:nothing", {}),
                                           ("/v1/no-such-route", {"x-goog-api-key": "k"})])
def test_every_404_a_google_caller_meets_is_in_geminis_shape(gateway, path, headers):
    missing = requests.post(gateway.url + path, headers=headers, data=b"{}", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND" and missing.json()["error"]["code"] == 404


def test_a_404_of_an_anthropic_caller_is_in_anthropics_shape(gateway):
    missing = requests.get(gateway.url + "/v1/no-such-route", headers={"anthropic-version": "2023-06-01"}, timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"type": "error", "error": {"type": "not_found_error",
                                                         "message": "No route for GET /v1/no-such-route."}}
