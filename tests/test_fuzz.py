"""Generated request bodies never crash a view: every answer is a success or an error in the
caller's format, never a 500 or a traceback (the fake upstream answers whatever gets through)."""
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.app("served")  # the fake upstream, the server's token, no key

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)

CONTENT_PART = st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "other", 3]),
                                      "text": JSON | st.text(max_size=30)})
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "x", None]),
                                 "content": st.text(max_size=40) | st.lists(CONTENT_PART, max_size=3) | JSON})
CHAT_BODY = st.fixed_dictionaries(
    {"model": st.sampled_from(["kimi-latest", "kimi-k2.5-thinking", "", "claude-x"]) | JSON,
     "messages": st.lists(MESSAGE, max_size=4) | JSON},
    optional={"stream": st.booleans() | JSON, "max_tokens": st.integers(-5, 50) | JSON,
              "reasoning_effort": st.sampled_from(["low", "none", "high"]) | JSON,
              "stream_options": st.fixed_dictionaries({"include_usage": JSON}) | JSON,
              "conversation_id": JSON})


def check_openai_answer(response):
    body = response.get_data()
    assert b"Traceback" not in body
    # 404: a generated conversation_id names no chat the fake upstream knows.
    assert response.status_code in (200, 400, 401, 404), body
    if response.status_code != 200:
        error = orjson.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    elif response.mimetype == "text/event-stream":
        assert body.endswith(b"data: [DONE]\n\n") and b'"error"' not in body
    else:
        assert orjson.loads(body)["object"] == "chat.completion"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CHAT_BODY)
def test_structured_chat_bodies_get_an_answer_or_an_openai_error(client, body):
    check_openai_answer(client.post("/v1/chat/completions", data=orjson.dumps(body)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | JSON.map(orjson.dumps))
def test_arbitrary_bytes_get_an_openai_error(client, raw):
    check_openai_answer(client.post("/v1/chat/completions", data=raw))
