"""Zero or negative token limits and candidate counts answer 400 in the caller's own error shape, as the
real APIs do, before Kimi is asked anything."""
import pytest

pytestmark = pytest.mark.app("served")

USER = [{"role": "user", "content": "hi"}]
GEMINI_USER = [{"role": "user", "parts": [{"text": "hi"}]}]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "n"])
@pytest.mark.parametrize("value", [0, -5])
def test_chat_completions_refuses_limits_below_one_in_openai_shape(client, field, value):
    response = client.post("/v1/chat/completions", json={"model": "kimi-latest", "messages": USER, field: value})
    assert response.status_code == 400
    assert response.json == {"error": {
        "message": f"Invalid `{field}`: integer below minimum value. Expected a value >= 1, but got {value} instead.",
        "type": "invalid_request_error", "param": field, "code": "integer_below_min_value"}}


def test_responses_refuses_a_zero_max_output_tokens_in_openai_shape(client):
    response = client.post("/v1/responses", json={"model": "kimi-latest", "input": "hi", "max_output_tokens": 0})
    assert response.status_code == 400
    assert response.json["error"]["param"] == "max_output_tokens"
    assert response.json["error"]["code"] == "integer_below_min_value"


def test_messages_refuses_a_negative_max_tokens_in_anthropic_shape(client):
    response = client.post("/v1/messages", json={"model": "kimi-latest", "messages": USER, "max_tokens": -1},
                           headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 400
    assert response.json["type"] == "error" and response.json["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("field", ["maxOutputTokens", "candidateCount"])
def test_generate_content_refuses_limits_below_one_in_googles_shape(client, field):
    response = client.post("/v1beta/models/kimi-latest:generateContent",
                           json={"contents": GEMINI_USER, "generationConfig": {field: 0}})
    assert response.status_code == 400
    error = response.json["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert f"generationConfig.{field}" in error["message"]
