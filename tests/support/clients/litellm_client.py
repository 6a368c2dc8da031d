"""LiteLLM as a client of the gateway (`python -m tests.support.clients.litellm_client PREFIX`, PREFIX one
of openai, anthropic, gemini): completion, a stream, a tool call round trip and a second turn, each through
LiteLLM's own translation to that provider's API."""
from __future__ import annotations

import sys

import litellm

from tests.support.client_kimi import GREETING_PROMPT, INTRODUCTION, NAME_QUESTION, TOOL_PROMPT, TOOL_RESULT
from tests.support.clients.scenario import GATEWAY_KEY, GATEWAY_URL, WEATHER_TOOL, play

MODELS = {"openai": ("openai/kimi-k2.5-instant", GATEWAY_URL + "/v1"),
          "anthropic": ("anthropic/claude-sonnet-4-6", GATEWAY_URL),
          "gemini": ("gemini/gemini-2.5-flash", GATEWAY_URL + "/v1beta")}


def main(prefix: str) -> None:
    model, api_base = MODELS[prefix]

    def ask(messages, **extra):
        return litellm.completion(model=model, api_base=api_base, api_key=GATEWAY_KEY, messages=messages,
                                  max_tokens=200, num_retries=0, **extra)

    def user(text):
        return {"role": "user", "content": text}

    def stream():
        return [c.choices[0].delta.content for c in ask([user(GREETING_PROMPT)], stream=True)
                if c.choices and c.choices[0].delta.content]

    def tool():
        messages = [user(TOOL_PROMPT)]
        first = ask(messages, tools=[WEATHER_TOOL]).choices[0]
        call = first.message.tool_calls[0]
        messages += [first.message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
        then = ask(messages, tools=[WEATHER_TOOL]).choices[0].message.content
        return {"finish_reason": first.finish_reason, "name": call.function.name,
                "arguments": call.function.arguments, "then": then}

    def second_turn():
        messages = [user(INTRODUCTION)]
        messages += [ask(messages).choices[0].message.model_dump(exclude_none=True), user(NAME_QUESTION)]
        return ask(messages).choices[0].message.content

    play({"text": lambda: ask([user(GREETING_PROMPT)]).choices[0].message.content, "stream": stream,
          "tool": tool, "second_turn": second_turn})


if __name__ == "__main__":
    main(sys.argv[1])
