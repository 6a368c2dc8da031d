"""THINKING_OUTPUT: thinking in each API's own field (separate), inside the text as <think>…</think>
(inline), or not at all (hidden): the transforms of gateway/filters.py, then through the gateway."""
import anthropic
import openai
import pytest

from kimi.events import Citations, Finished, Source, TextDelta, ThinkingDelta, ToolCall
from gateway.filters import drop_thinking, inline_thinking, thinking_output
from blueprints.upstream import services

pytest_plugins = ["tests.support.turn_gateways"]

SOURCE = Citations((Source("1", "https://a.example"),))
CALL = ToolCall("c1", "f", "{}")


@pytest.mark.parametrize("events, inline", [
    ([ThinkingDelta("a"), ThinkingDelta("b"), TextDelta("x"), Finished()],
     [TextDelta("<think>\na"), TextDelta("b"), TextDelta("\n</think>\n\n"), TextDelta("x"), Finished()]),
    ([ThinkingDelta("a"), SOURCE, Finished()],
     [TextDelta("<think>\na"), SOURCE, TextDelta("\n</think>\n\n"), Finished()]),
    ([ThinkingDelta("a"), CALL, Finished("tool_calls")],
     [TextDelta("<think>\na"), TextDelta("\n</think>\n\n"), CALL, Finished("tool_calls")]),
    ([TextDelta("x"), ThinkingDelta("[web_search] q\n"), TextDelta("y"), Finished()],  # an agent thinks again
     [TextDelta("x"), TextDelta("<think>\n[web_search] q\n"), TextDelta("\n</think>\n\n"), TextDelta("y"),
      Finished()]),
    ([TextDelta("x"), Finished()], [TextDelta("x"), Finished()]),
])
def test_inline_wraps_each_stretch_of_thinking_in_think_elements(events, inline):
    assert list(inline_thinking(events)) == inline


def test_hidden_drops_only_thinking():
    events = [ThinkingDelta("a"), SOURCE, TextDelta("x"), CALL, Finished()]
    assert list(drop_thinking(events)) == [SOURCE, TextDelta("x"), CALL, Finished()]


def test_modes_name_their_transform_and_an_unknown_mode_is_refused():
    assert (thinking_output("separate"), thinking_output("inline"), thinking_output("hidden")) == \
        (None, inline_thinking, drop_thinking)
    with pytest.raises(ValueError, match="THINKING_OUTPUT"):
        thinking_output("visible")


def test_openai_inline_thinking_is_part_of_the_content(turn_kimi, features_gateway, user_token):
    with openai.OpenAI(base_url=features_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        reply = client.chat.completions.create(model="kimi-k2.5-thinking",
                                               messages=[{"role": "user", "content": "Why is the sky blue?"}])
        chunks = list(client.chat.completions.create(model="kimi-k2.5-thinking", stream=True,
                                                     messages=[{"role": "user", "content": "Why?"}]))
    message = reply.choices[0].message
    assert message.content == "<think>\nThinking about: Why is the sky blue?\n</think>\n\nWhy is the sky blue?"
    assert getattr(message, "reasoning_content", None) is None
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "<think>\nThinking about: Why?\n</think>\n\nWhy?"
    assert not any(getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks)


def test_anthropic_inline_thinking_is_a_text_block_not_a_thinking_block(turn_kimi, features_gateway, user_token):
    with anthropic.Anthropic(base_url=features_gateway.url, api_key=user_token, max_retries=0) as client:
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=500,
                                         thinking={"type": "enabled", "budget_tokens": 1024},
                                         messages=[{"role": "user", "content": "Why?"}])
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "<think>\nThinking about: Why?\n</think>\n\nWhy?"


def test_hidden_thinking_leaves_only_the_answer(make_app, kimi, user_token):
    app = make_app(kimi_base_url=kimi.url, kimi_token="", api_keys="", thinking_output="hidden")
    with services(app).router.connect.session:
        response = app.test_client().post("/v1/chat/completions", headers={"Authorization": f"Bearer {user_token}"},
                                          json={"model": "kimi-k2.5-thinking",
                                                "messages": [{"role": "user", "content": "Why?"}]})
    assert response.status_code == 200
    assert response.json["choices"][0]["message"] == {"role": "assistant", "content": "Why?", "refusal": None}
    assert kimi.requests[-1].body["options"]["thinking"] is True  # Kimi still thinks; the reply just omits it
